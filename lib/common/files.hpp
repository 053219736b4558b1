#pragma once
// Files that are either complete or absent: write under a temporary name, fsync, rename, fsync
// the directory. A job killed at any instant leaves the previous file (or none), never half a file.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace cxr {

namespace fs = std::filesystem;

// The temporary name used while `final_path` is being written: same directory (so the rename is
// atomic), hidden, tagged with the writer's pid so two writers never share it.
fs::path temporary_path_for(const fs::path& final_path);

// fsync `tmp`, rename it to `final_path`, fsync the directory. Throws RuntimeError.
void commit_file(const fs::path& tmp, const fs::path& final_path);

// Writes `content` to `path` atomically (temporary file + commit_file).
void write_file_atomic(const fs::path& path, const std::string& content);

std::string read_text_file(const fs::path& path);            // InputError if unreadable
std::vector<std::uint8_t> read_binary_file(const fs::path& path);  // InputError if unreadable

// Creates `dir` (and parents) and proves it is writable by creating and removing a probe file.
// Throws InputError naming the directory otherwise.
void ensure_writable_directory(const fs::path& dir);

// Lower-case hex SHA-256 of a file's bytes, the same digest `sha256sum` prints.
std::string sha256_file(const fs::path& path);
std::string sha256_hex(const std::string& bytes);

}  // namespace cxr
