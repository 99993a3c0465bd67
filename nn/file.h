// POSIX file I/O for checkpoints: a file descriptor that closes itself, full
// reads and writes that retry interrupted calls, and the atomic write that
// every saved file goes through (a crash leaves the old file or the new one,
// never half of one). Errors are moegrad::Error("<op>: <path>: ...").
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace moegrad {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string errno_str();  // strerror(errno)

// Exactly n bytes, or an error naming op and path (a short read is "unexpected end of file").
void write_all(const char* op, int fd, const void* data, size_t n, const std::string& path);
void read_all(const char* op, int fd, void* data, size_t n, const std::string& path);

// Writes the pieces, one after another, to "<path>.tmp-<pid>-<n>" in the same
// directory, fsyncs it, renames it over `path` and fsyncs the directory. On
// error the temporary file is removed and `path` is untouched. Concurrent
// writes to one path are safe (each has its own temporary; the last rename wins).
void write_file_atomically(const char* op, const std::string& path,
                           const std::vector<std::pair<const void*, size_t>>& pieces);
inline void write_file_atomically(const char* op, const std::string& path, const std::string& bytes) {
  write_file_atomically(op, path, {{bytes.data(), bytes.size()}});
}

// fsyncs a directory, making the entries created, renamed or removed in it
// durable. Best effort: filesystems that refuse are left as they are.
void sync_directory(const std::string& dir);

// Removes the temporary files that write_file_atomically leaves in `dir` when
// its process dies mid-write ("<name>.tmp-<pid>-<n>" whose pid is no running
// process; another live writer's are kept). Returns how many were removed.
size_t remove_stale_temporaries(const std::string& dir);

}  // namespace moegrad
