// profd-symbolize FILE < addresses: a stand-alone driver for RunSymbolizeCommand until
// `profd --symbolize FILE` exists.
#include <iostream>

#include "symbolize_command.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " ELF_FILE < hex-addresses\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  return profd::RunSymbolizeCommand(argv[1], std::cin, std::cout, std::cerr);
}
