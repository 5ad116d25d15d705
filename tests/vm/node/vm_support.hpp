#pragma once

// Shared by the real-kernel tests in this folder.

#include <fstream>
#include <string>

namespace olocal::test {

/// True inside the VM harness: the kernel has device-mapper.
inline bool in_vm() {
  std::ifstream misc{"/proc/misc"};
  std::string line;
  while (std::getline(misc, line))
    if (line.find("device-mapper") != std::string::npos)
      return true;
  return false;
}

} // namespace olocal::test
