// Ordinary C++ built as clang/lld users build it: sorts strings and counts words in an
// unordered_map, until SECONDS (argv[1]) have passed.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

std::vector<std::string> MakeWords(unsigned seed, size_t count) {
  std::vector<std::string> words;
  words.reserve(count);
  for (size_t i = 0; i < count; i++) {
    seed = seed * 1103515245u + 12345u;
    words.push_back("w" + std::to_string(seed % 50000));
  }
  return words;
}

size_t CountDistinct(const std::vector<std::string>& words) {
  std::unordered_map<std::string, int> counts;
  for (const std::string& w : words) counts[w]++;
  return counts.size();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 30;
  const auto start = std::chrono::steady_clock::now();
  size_t sink = 0;
  for (unsigned round = 0;
       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds;
       round++) {
    std::vector<std::string> words = MakeWords(round, 100000);
    std::sort(words.begin(), words.end());
    sink += CountDistinct(words);
  }
  return sink == 1;
}
