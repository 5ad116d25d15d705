#include "actors/core/state_file.hpp"

#include "actors/core/errc.hpp"

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace olocal {

namespace {

namespace fs = std::filesystem;

caf::error sys_error(const std::string& op, int err) {
  return errno_error(file_errc(err), op, err);
}

} // namespace

caf::expected<std::optional<std::string>> read_state_file(const std::string& path,
                                                          const std::string& what) {
  std::string op = "read " + what + " " + path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return std::optional<std::string>{};
    return sys_error(op, errno);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int err = errno;
      ::close(fd);
      return sys_error(op, err);
    }
    if (n == 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>{std::move(text)};
}

caf::expected<uint64_t> write_state_file(const std::string& path, const std::string& text,
                                         const std::string& what) {
  std::string op = "write " + what + " " + path;
  auto dir = fs::path{path}.parent_path();
  if (dir.empty())
    dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(file_errc(ec.value()), op + ": create " + dir.string() + ": " + ec.message());
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return sys_error(op + ": open " + tmp, errno);
  auto fail = [&](const std::string& step, int err) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp.c_str());
    return sys_error(op + ": " + step, err);
  };
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail("write " + tmp, errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0)
    return fail("fsync " + tmp, errno);
  int closing = fd;
  fd = -1;
  if (::close(closing) != 0)
    return fail("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail("rename " + tmp, errno);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return sys_error(op + ": open " + dir.string(), errno);
  int synced = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (synced != 0)
    return sys_error(op + ": fsync " + dir.string(), err);
  return static_cast<uint64_t>(text.size());
}

} // namespace olocal
