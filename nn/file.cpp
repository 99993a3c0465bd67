#include "nn/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
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
  sync_directory(parent_dir(path));  // make the rename itself durable
}

void sync_directory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() >= 0) ::fsync(fd.get());
}

size_t remove_stale_temporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at == 0) continue;
    // "<pid>-<n>", both decimal: anything else is not ours to delete.
    const char* p = name.c_str() + at + 5;
    char* end = nullptr;
    const long pid = std::strtol(p, &end, 10);
    if (end == p || *end != '-' || pid <= 0) continue;
    const char* n = end + 1;
    if (*n == '\0' || std::strspn(n, "0123456789") != std::strlen(n)) continue;
    const bool alive = ::kill(pid_t(pid), 0) == 0 || errno == EPERM;
    if (!alive) stale.push_back(name);
  }
  ::closedir(d);
  size_t removed = 0;
  for (const std::string& name : stale) removed += ::unlink((dir + "/" + name).c_str()) == 0;
  return removed;
}

}  // namespace moegrad
