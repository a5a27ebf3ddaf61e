// Runs the fixture code and prints its addresses (see fixture_lib.cc).
extern "C" void FixtureReport(int argc);

int main(int argc, char**) {
  FixtureReport(argc);
  return 0;
}
