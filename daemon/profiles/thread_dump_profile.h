// The goroutine profile (alias threads): every thread's stack of the given processes, now.
#ifndef PROFD_DAEMON_PROFILES_THREAD_DUMP_PROFILE_H
#define PROFD_DAEMON_PROFILES_THREAD_DUMP_PROFILE_H

#include "profiles/profile_collection.h"
#include "profiles/profile_request.h"

namespace profd {

// The window does not apply. The targets have been checked to exist.
CollectedProfile CollectThreadDump(const ProfileRequest& request);

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_THREAD_DUMP_PROFILE_H
