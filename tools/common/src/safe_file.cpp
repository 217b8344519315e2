// Safe inputs and outputs of the edge (safe_file.hpp): POSIX descriptors, so that every flag that
// makes a file safe (O_EXCL, O_NOFOLLOW, O_CLOEXEC, O_NONBLOCK on a FIFO) is stated, and every
// write, fsync and close is checked.
#include "vpgen/common/safe_file.hpp"

#include "vpgen/population/error.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <streambuf>
#include <system_error>

namespace vpgen {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// "16 MiB" for whole mebibytes, else the bytes.
std::string size_text(std::size_t bytes) {
  constexpr std::size_t kMiB = 1024 * 1024;
  return bytes % kMiB == 0 ? fmt::format("{} MiB", bytes / kMiB) : fmt::format("{} bytes", bytes);
}

InputError not_regular(const std::string& path) {
  return InputError(fmt::format(
      "{}: not a regular file (a folder, FIFO, device or socket); vpgen reads regular files only",
      path));
}

InputError too_large(const std::string& path, std::size_t cap) {
  return InputError(
      fmt::format("{}: larger than {}, the limit on input files", path, size_text(cap)));
}

// Writes all of `bytes` to `fd`; false with errno set if the system refuses.
bool write_all(int fd, const char* bytes, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, bytes, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// 16 hex digits from the kernel's random source (std::random_device if getrandom is missing):
// a name another user cannot predict, so cannot plant a link at in advance.
std::string random_hex() {
  std::uint64_t value = 0;
  if (::getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
    std::random_device device;
    value = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }
  return fmt::format("{:016x}", value);
}

}  // namespace

std::string read_input_file(const std::string& path, std::string_view what, std::size_t cap) {
  // stat first: a FIFO is refused without being opened (an open for reading would wait for a
  // writer), a device without the side effects of opening it.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw InputError(fmt::format("{}: cannot open {}", path, what));
  if (!S_ISREG(info.st_mode)) throw not_regular(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open {}", path, what));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Again on what was opened: the name may have been replaced since the stat.
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) throw not_regular(path);
  if (info.st_size < 0 || static_cast<std::uintmax_t>(info.st_size) > cap)
    throw too_large(path, cap);
  std::string text;
  text.resize(static_cast<std::size_t>(info.st_size) + 1);
  std::size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (used > cap) throw too_large(path, cap);
      text.resize(std::min(cap + 1, used * 2 + 4096));
    }
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(fmt::format("{}: cannot read {}: {}", path, what, errno_text(errno)));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
    if (used > cap) throw too_large(path, cap);
  }
  text.resize(used);
  return text;
}

// ---- AtomicFile ---------------------------------------------------------------------------------

namespace {

// A stream buffer over the temporary's descriptor that remembers the first failed write.
class DescriptorBuffer final : public std::streambuf {
 public:
  explicit DescriptorBuffer(int fd) : fd_(fd) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  // 0, or the errno of the first failed write.
  int error() const { return error_; }
  bool drain() {
    const std::size_t size = static_cast<std::size_t>(pptr() - pbase());
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    if (error_ != 0) return false;
    if (!write_all(fd_, buffer_.data(), size)) {
      error_ = errno;
      return false;
    }
    return true;
  }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  int fd_;
  int error_ = 0;
  std::array<char, 1 << 16> buffer_{};
};

}  // namespace

struct AtomicFile::State {
  fs::path target;
  fs::path temporary;
  int fd = -1;
  bool published = false;
  std::unique_ptr<DescriptorBuffer> buffer;
  std::unique_ptr<std::ostream> stream;
};

AtomicFile::AtomicFile(fs::path target) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.target = std::move(target);
  const fs::path directory = s.target.has_parent_path() ? s.target.parent_path() : fs::path(".");
  // Room for the suffix within NAME_MAX (255) whatever the target's name.
  std::string name = s.target.filename().string();
  if (name.size() > 200) name.resize(200);
  int error = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    s.temporary = directory / fmt::format("{}.{}.partial", name, random_hex());
    s.fd = ::open(s.temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (s.fd >= 0) return;
    error = errno;
    if (error != EEXIST) break;
  }
  throw InputError(fmt::format("{}: cannot create a file in {}: {}", s.target.string(),
                               directory.string(), errno_text(error)));
}

AtomicFile::~AtomicFile() {
  if (!state_) return;  // moved from
  if (state_->fd >= 0) ::close(state_->fd);
  if (!state_->published) ::unlink(state_->temporary.c_str());
}

AtomicFile::AtomicFile(AtomicFile&&) noexcept = default;

void AtomicFile::write(std::string_view bytes) {
  State& s = *state_;
  if (s.stream) s.stream->flush();  // keep the order of stream() and write() output
  if (s.fd < 0 || !write_all(s.fd, bytes.data(), bytes.size()))
    throw Error(fmt::format("{}: writing failed: {}", s.target.string(),
                            errno_text(s.fd < 0 ? EBADF : errno)));
}

std::ostream& AtomicFile::stream() {
  State& s = *state_;
  if (!s.stream) {
    s.buffer = std::make_unique<DescriptorBuffer>(s.fd);
    s.stream = std::make_unique<std::ostream>(s.buffer.get());
  }
  return *s.stream;
}

void AtomicFile::finish() {
  State& s = *state_;
  if (s.fd < 0) return;
  const auto fail = [&](int error) {
    return Error(fmt::format("{}: writing failed: {}", s.target.string(), errno_text(error)));
  };
  if (s.buffer) {
    s.stream->flush();
    if (s.buffer->error() != 0) throw fail(s.buffer->error());
    if (!s.stream->good()) throw fail(EIO);
  }
  if (::fsync(s.fd) != 0) throw fail(errno);
  const int fd = s.fd;
  s.fd = -1;
  if (::close(fd) != 0) throw fail(errno);
}

void AtomicFile::publish() {
  finish();
  State& s = *state_;
  if (::rename(s.temporary.c_str(), s.target.c_str()) != 0)
    throw InputError(
        fmt::format("{}: cannot replace it: {}", s.target.string(), errno_text(errno)));
  s.published = true;
  // The new name on disk too; the file is already whole, so a failure here changes nothing.
  const fs::path directory = s.target.has_parent_path() ? s.target.parent_path() : fs::path(".");
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    [[maybe_unused]] const int ignored = ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

const fs::path& AtomicFile::target() const { return state_->target; }
const fs::path& AtomicFile::temporary() const { return state_->temporary; }

void write_file_atomic(const fs::path& target, std::string_view content) {
  AtomicFile file(target);
  file.write(content);
  file.publish();
}

void write_files_atomic(const std::vector<std::pair<fs::path, std::string>>& files) {
  std::vector<AtomicFile> written;
  written.reserve(files.size());
  for (const auto& [target, content] : files) {
    written.emplace_back(target);
    written.back().write(content);
    written.back().finish();
  }
  std::size_t renamed = 0;
  try {
    for (; renamed < written.size(); ++renamed) written[renamed].publish();
  } catch (...) {
    for (std::size_t i = 0; i < renamed; ++i) ::unlink(written[i].target().c_str());
    throw;  // the destructors remove the temporaries not renamed
  }
}

int open_own_file(const fs::path& path, int flags) {
  // O_NONBLOCK: a FIFO planted at the name must not stall the open; it is refused below.
  const int fd =
      ::open(path.c_str(), flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd < 0) {
    const int error = errno;
    if (error == ELOOP)
      throw InputError(
          fmt::format("{}: is a symbolic link, refusing to use it (remove it if it is not yours)",
                      path.string()));
    throw InputError(fmt::format("{}: cannot open: {}", path.string(), errno_text(error)));
  }
  struct stat info {};
  std::string why;
  if (::fstat(fd, &info) != 0) why = fmt::format("cannot stat it ({})", errno_text(errno));
  else if (!S_ISREG(info.st_mode)) why = "not a regular file";
  else if (info.st_uid != ::geteuid())
    why = fmt::format("owned by uid {}, not by this user (uid {})", info.st_uid, ::geteuid());
  else if (info.st_nlink != 1)
    why = fmt::format("has {} hard links, so it is also another file", info.st_nlink);
  if (!why.empty()) {
    ::close(fd);
    throw InputError(fmt::format("{}: {}, refusing to use it", path.string(), why));
  }
  // Blocking again for the writes of a regular file (O_NONBLOCK means nothing to one anyway).
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace vpgen
