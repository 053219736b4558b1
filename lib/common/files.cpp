#include "common/files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.hpp"

namespace cxr {
namespace {

std::string errno_text() { return std::strerror(errno); }

void fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw RuntimeError("cannot open " + path.string() + " to sync it: " + errno_text());
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  // Some file systems refuse fsync on directories (EINVAL); the rename is still atomic there.
  if (rc != 0 && !(directory && saved == EINVAL))
    throw RuntimeError("fsync failed for " + path.string() + ": " + std::strerror(saved));
}

// Lower-case hex SHA-256 of what `feed` passes to EVP_DigestUpdate.
template <class Feed>
std::string sha256_of(Feed feed) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  feed(ctx.get());
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md.data(), &n);
  return fmt::format("{:02x}", fmt::join(md.begin(), md.begin() + n, ""));
}

}  // namespace

fs::path temporary_path_for(const fs::path& final_path) {
  return final_path.parent_path() /
         ("." + final_path.filename().string() + ".tmp." + std::to_string(::getpid()));
}

void commit_file(const fs::path& tmp, const fs::path& final_path) {
  fsync_path(tmp, false);
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) throw RuntimeError("cannot rename " + tmp.string() + " to " + final_path.string() + ": " + ec.message());
  fsync_path(final_path.parent_path().empty() ? fs::path(".") : final_path.parent_path(), true);
}

void write_file_atomic(const fs::path& path, const std::string& content) {
  const fs::path tmp = temporary_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RuntimeError("cannot write " + tmp.string() + ": " + errno_text());
    if (!(out << content << std::flush)) {
      out.close();
      fs::remove(tmp);
      throw RuntimeError("write failed for " + tmp.string() + ": " + errno_text());
    }
  }
  commit_file(tmp, path);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path.string() + ": " + errno_text());
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::uint8_t> read_binary_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw InputError("cannot read " + path.string() + ": " + errno_text());
  const auto size = static_cast<std::size_t>(in.tellg());
  std::vector<std::uint8_t> bytes(size);
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    throw InputError("short read from " + path.string());
  return bytes;
}

void ensure_writable_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("cannot create output directory " + dir.string() + ": " + ec.message());
  const fs::path probe = dir / (".write-probe." + std::to_string(::getpid()));
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw InputError("output directory " + dir.string() + " is not writable: " + errno_text());
  ::close(fd);
  fs::remove(probe, ec);
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError("cannot read " + path.string() + " to checksum it: " + errno_text());
  return sha256_of([&](EVP_MD_CTX* ctx) {
    std::vector<char> buffer(1 << 20);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      EVP_DigestUpdate(ctx, buffer.data(), static_cast<std::size_t>(in.gcount()));
    }
  });
}

std::string sha256_hex(const std::string& bytes) {
  return sha256_of([&](EVP_MD_CTX* ctx) { EVP_DigestUpdate(ctx, bytes.data(), bytes.size()); });
}

}  // namespace cxr
