#ifndef PROFD_TESTS_UNWIND_FIXTURE_LIB_H
#define PROFD_TESTS_UNWIND_FIXTURE_LIB_H
int FixtureLibWork(int seed);
#endif
