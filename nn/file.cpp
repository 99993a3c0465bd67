#include "nn/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace moegrad {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string errno_str() { return std::strerror(errno); }

void write_all(const char* op, int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      detail::fail(op, path, ": write failed: ", errno_str());
    }
    p += w;
    n -= size_t(w);
  }
}

void read_all(const char* op, int fd, void* data, size_t n, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, std::min<size_t>(n, size_t(1) << 30));
    if (r < 0) {
      if (errno == EINTR) continue;
      detail::fail(op, path, ": read failed: ", errno_str());
    }
    if (r == 0) detail::fail(op, path, ": unexpected end of file (did it change while being read?)");
    p += r;
    n -= size_t(r);
  }
}

namespace {
std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

void write_file_atomically(const char* op, const std::string& path,
                           const std::vector<std::pair<const void*, size_t>>& pieces) {
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) detail::fail(op, path, ": cannot create temporary file '", tmp, "': ", errno_str());
  try {
    for (const auto& [data, n] : pieces) write_all(op, fd.get(), data, n, path);
    if (::fsync(fd.get()) != 0) detail::fail(op, path, ": fsync failed: ", errno_str());
    if (::close(fd.release()) != 0) detail::fail(op, path, ": close failed: ", errno_str());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      detail::fail(op, path, ": cannot rename '", tmp, "' over it: ", errno_str());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable; best effort (some filesystems refuse).
  Fd dir(::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

}  // namespace moegrad
