// C++ with exceptions on the path: frames with cleanups and try blocks (LSDA, landing pads) above a
// spinning leaf. usage: unwind-cpp
#include <cstdint>
#include <stdexcept>
#include <string>

volatile uint64_t sink;

namespace profd_test {

struct Guard {  // a destructor gives the frame a cleanup landing pad
  ~Guard() { sink = sink + 1; }
};

__attribute__((noinline)) void Spin() {
  for (;;) sink = sink * 6364136223846793005ULL + 1;
}

__attribute__((noinline)) void Thrower(int n) {
  Guard guard;
  if (n < 0) throw std::runtime_error("never");
  Spin();
}

__attribute__((noinline)) int Catcher(int n) {
  try {
    Thrower(n);
  } catch (const std::exception& e) {
    return static_cast<int>(std::string(e.what()).size());
  }
  return 0;
}

}  // namespace profd_test

int main() {
  // One throw first, so the exception machinery has run, then the spin below a try block.
  sink = sink + profd_test::Catcher(-1);
  return profd_test::Catcher(1);
}
