// The files vpgen reads and writes at the edge (docs/RELIABILITY.md, "Safe files"). Inputs are
// regular files of at most kMaxInputFileBytes, read once. Outputs are written to a temporary with
// an unpredictable name created exclusively in the target's folder (O_EXCL|O_NOFOLLOW), checked
// at every write, fsync and close, and renamed over the target: rename replaces whatever is at
// the target (a symlink too) and never follows it, so a link planted in a shared folder is never
// written through. Thread-safe: free functions are; an AtomicFile belongs to one thread.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vpgen {

// The largest input file vpgen reads: 16 MiB, 180 times the largest shipped input
// (configs/targets/targets.csv, 90 KiB) and far above any hand-written scenario, so that a
// device or a runaway file is refused before it fills memory.
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{16} * 1024 * 1024;

// The bytes of the regular file at `path`, which must hold at most `cap` bytes. Refuses a FIFO,
// a device, a folder or a socket without reading from it, and reads at most cap + 1 bytes (the
// file may grow between the size check and the read). Throws InputError "PATH: why", one line;
// `what` names the file in "PATH: cannot open WHAT" ("file" by default).
std::string read_input_file(const std::string& path, std::string_view what = "file",
                            std::size_t cap = kMaxInputFileBytes);

// One output file, written safely. Typical use: AtomicFile f(target); f.write(...) or
// f.stream() << ...; f.publish(). Destroyed unpublished (an exception), it removes its temporary.
class AtomicFile {
 public:
  // Creates TARGET's temporary, "NAME.<16 hex digits>.partial" in TARGET's folder, with mode
  // 0666 less the umask. Throws InputError naming TARGET if the folder is missing or refuses.
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes to the temporary. Throws Error naming TARGET on a failed write (a full disk).
  void write(std::string_view bytes);
  // A buffered stream into the temporary; its write errors are thrown by finish() or publish().
  std::ostream& stream();
  // Flushes, fsyncs and closes the temporary: it is then complete on disk. Throws Error.
  void finish();
  // finish() if not yet, then renames the temporary over TARGET. Throws InputError naming TARGET
  // if it cannot be replaced (a folder there, a read-only folder).
  void publish();

  const std::filesystem::path& target() const;
  const std::filesystem::path& temporary() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Writes `content` to `target` through an AtomicFile: the target is complete or unchanged.
void write_file_atomic(const std::filesystem::path& target, std::string_view content);

// All the files or none of them: every file is written to its temporary and finished first, then
// each renamed over its target in order, the last one last (a document after its figures). On any
// failure, the targets this call already renamed are removed and no temporary is left; the error
// is rethrown.
void write_files_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files);

// Opens (creating with mode 0644 less the umask if absent) a file of vpgen's own in a folder
// others may write into: never through a symlink (O_NOFOLLOW), never truncating, and only a
// regular file owned by the effective user with one link. `flags`: O_RDWR, or O_WRONLY|O_APPEND.
// Returns the descriptor (O_CLOEXEC); throws InputError "PATH: why, refusing to use it".
int open_own_file(const std::filesystem::path& path, int flags);

}  // namespace vpgen
