#pragma once
// Making finished files survive a crash of the node (power loss, kernel panic) once their final
// names are visible: a file is flushed before it is renamed into place, and the folder after.

#include <string>

#include "common/status.h"

namespace shardscore {

// fsync(2) of the file or folder at `path`: its data and metadata (for a folder, its entries, such
// as a rename into it) are on stable storage when this returns OK. A folder whose file system
// cannot sync folders (EINVAL, ENOTSUP: some network and FUSE file systems) counts as synced.
// Errors (kUnavailable) name the path and the errno text.
[[nodiscard]] Status sync_path(const std::string& path);

// sync_path of the folder that holds `path` ("." for a bare name).
[[nodiscard]] Status sync_parent_folder(const std::string& path);

}  // namespace shardscore
