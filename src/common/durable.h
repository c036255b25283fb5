#pragma once
// Making finished files survive a crash of the node (power loss, kernel panic) once their final
// names are visible: a file is flushed before it is renamed into place, and the folder after.

#include <filesystem>
#include <string>

#include "common/status.h"

namespace shardscore {

// fsync(2) of the file or folder at `path`: its data and metadata (for a folder, its entries, such
// as a rename into it) are on stable storage when this returns OK. A folder whose file system
// cannot sync folders (EINVAL, ENOTSUP: some network and FUSE file systems), or that this process
// may not read (EACCES), counts as synced: nothing better can be done there. Errors
// (kUnavailable) name the path and the errno text.
[[nodiscard]] Status sync_path(const std::string& path);

// Writes `text` to a new file `path` (replacing one there) and flushes it to disk. On failure
// (kUnavailable, naming the path and the errno text: a full disk) the file is removed again.
[[nodiscard]] Status write_file_synced(const std::string& path, const std::string& text);

// "<host>-<pid>-<8 hex digits>", the same for the whole process: what makes a temporary name this
// process's own. The pid alone is not: in containers, or on two nodes over one shared file system,
// two runs of one output can have the same pid (both 1), and wrote into one temporary file.
const std::string& process_unique_suffix();

// The folder that holds `path`, made absolute (the working directory for a bare name).
std::filesystem::path folder_of(const std::string& path);

// sync_path of folder_of(path).
[[nodiscard]] Status sync_parent_folder(const std::string& path);

// Renames `from` to `to` (a file or a folder). replace: what is at `to` is replaced (a folder there
// is removed first). Otherwise `to` must not exist when the rename happens, checked by the rename
// itself (renameat2 RENAME_NOREPLACE, or a check just before it where the file system lacks that):
// kAlreadyExists when it does (another job wrote it meanwhile), leaving both as they are. `what`
// ("output", "report") starts the messages.
[[nodiscard]] Status move_into_place(const std::string& from, const std::string& to, bool replace, const std::string& what);

// After `path` was renamed into place: sync_parent_folder, and a failure is a warning (log_warning),
// not an error: the move has happened, and failing the run would call "nothing written" an output
// that is there.
void sync_parent_folder_or_warn(const std::string& path);

}  // namespace shardscore
