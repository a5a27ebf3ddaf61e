// C++ with exceptions: personality routine and LSDA in the CIE/FDE augmentation ("zPLR").
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

__attribute__((noinline)) int Parse(const std::string& text) {
  if (text.empty()) throw std::invalid_argument("empty");
  return static_cast<int>(text.size());
}

__attribute__((noinline)) int ParseAll(const std::vector<std::string>& texts) {
  int total = 0;
  for (const std::string& text : texts) {
    try {
      total += Parse(text);
    } catch (const std::invalid_argument& e) {
      total -= 1;
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> texts(argv, argv + argc);
  texts.emplace_back();
  std::printf("%d\n", ParseAll(texts));
  return 0;
}
