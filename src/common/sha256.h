#pragma once
// SHA-256 of a file, as lower-case hex (OpenSSL's EVP digest).
#include <string>

#include "common/status.h"

namespace shardscore {

StatusOr<std::string> sha256_file_hex(const std::string& path);

}  // namespace shardscore
