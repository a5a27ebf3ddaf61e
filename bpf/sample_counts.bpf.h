/* The target filter and the counts map every stack profile shares: a (pid, tid, user stack, kernel stack,
 * thread name) key accumulates {events, total weight}; nothing is streamed per event. */
#ifndef PROFD_BPF_SAMPLE_COUNTS_BPF_H
#define PROFD_BPF_SAMPLE_COUNTS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "counters.bpf.h"
#include "profd_abi.h"
#include "stack_capture.bpf.h"

/* Set by the daemon before load: false = every process (--all). */
const volatile bool filter_pids = true;

/* Up to PROFD_TARGET_LIST targets are also listed here, so the filter is a few compares instead of a
 * map lookup: it runs on every event of the host (every context switch, for block). */
#define PROFD_TARGET_LIST 8
const volatile __u32 target_list[PROFD_TARGET_LIST] = {};
const volatile __u32 target_list_length = 0; /* 0: use the map */

/* Target processes (tgid → 1), when filter_pids. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192); /* a launched build's processes, with --follow */
  __type(key, __u32);
  __type(value, __u8);
} target_pids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct profd_sample_key);
  __type(value, struct profd_sample_value);
} counts SEC(".maps");

/* Processes with new stacks (tgid → 1), written on the rare path that adds a new counts key, so the
 * daemon finds new processes without walking the counts map; it deletes what it has read. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 32768);
  __type(key, __u32);
  __type(value, __u8);
} sampled_pids SEC(".maps");

/* Set by the daemon before load for a caller who may profile only its own processes: a task is
 * sampled only while it holds nothing that user could not (real, effective, saved and filesystem
 * uids all this one, its four gids one group, no permitted capabilities), so nothing is taken from
 * the moment it execs a set-user-ID, set-group-ID or file-capability program (the check is at each
 * event, exact where the daemon's own look at /proc comes up to a second late). (__u32)-1: anyone's.
 * ProcessCredentials::WhollyUsers is the same rule. */
const volatile __u32 owner_uid = (__u32)-1;

static __always_inline bool profd_owner_ok(void) {
  if (owner_uid == (__u32)-1) return true;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  /* real_cred: the objective credentials, the ones ptrace's permission check reads. */
  const struct cred *cred = BPF_CORE_READ(task, real_cred);
  if (BPF_CORE_READ(cred, uid.val) != owner_uid || BPF_CORE_READ(cred, euid.val) != owner_uid ||
      BPF_CORE_READ(cred, suid.val) != owner_uid || BPF_CORE_READ(cred, fsuid.val) != owner_uid)
    return false;
  const __u32 gid = BPF_CORE_READ(cred, gid.val);
  if (BPF_CORE_READ(cred, egid.val) != gid || BPF_CORE_READ(cred, sgid.val) != gid ||
      BPF_CORE_READ(cred, fsgid.val) != gid)
    return false;
  /* kernel_cap_t is 64 bits as one u64 (6.3+) or two u32 (before): read it as bytes. */
  __u64 permitted = 0;
  bpf_probe_read_kernel(&permitted, sizeof(permitted),
                        (const char *)cred + bpf_core_field_offset(struct cred, cap_permitted));
  return permitted == 0;
}

/* Is the current task's process `pid` one to sample. The pid first: it runs for every event of
 * the host, the owner's credentials only for the targets'. */
static __always_inline bool profd_is_target(__u32 pid) {
  if (!filter_pids) return profd_owner_ok();
  if (target_list_length == 0)
    return bpf_map_lookup_elem(&target_pids, &pid) != NULL && profd_owner_ok();
  for (int i = 0; i < PROFD_TARGET_LIST; i++)
    if (i < target_list_length && target_list[i] == pid) return profd_owner_ok();
  return false;
}

/* Adds `count` events of weight `total` to `key`. */
static __always_inline void profd_add_samples(const struct profd_sample_key *key, __u64 count,
                                              __u64 total) {
  struct profd_sample_value *value = bpf_map_lookup_elem(&counts, key);
  if (value) {
    __sync_fetch_and_add(&value->count, count);
    __sync_fetch_and_add(&value->total, total);
    return;
  }
  struct profd_sample_value first = {.count = count, .total = total};
  __u8 seen = 1;
  __u32 pid = key->pid;
  bpf_map_update_elem(&sampled_pids, &pid, &seen, BPF_ANY);
  long err = bpf_map_update_elem(&counts, key, &first, BPF_NOEXIST);
  if (err == -EEXIST) { /* another CPU inserted it meanwhile */
    value = bpf_map_lookup_elem(&counts, key);
    if (value) {
      __sync_fetch_and_add(&value->count, count);
      __sync_fetch_and_add(&value->total, total);
    }
  } else if (err != 0) {
    profd_count(err == -E2BIG ? PROFD_COUNTER_COUNTS_MAP_FULL : PROFD_COUNTER_COUNTS_STORE_FAILED);
  }
}

/* Adds one event of weight `total` to `key`. */
static __always_inline void profd_add_sample(const struct profd_sample_key *key, __u64 total) {
  profd_add_samples(key, 1, total);
}

#endif /* PROFD_BPF_SAMPLE_COUNTS_BPF_H */
