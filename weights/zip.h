// A read-only view of a zip archive held in memory (a mapped .pth file). Only STORED entries can be
// read: PyTorch writes its checkpoints uncompressed, and a compressed entry is refused with the reason.
// Every offset and size is checked against the buffer; CRC-32 is verified on read.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ish::weights {

class ZipReader {
 public:
  struct Entry {
    std::string name;
    uint16_t method = 0;  // 0 = stored
    uint32_t crc = 0;
    uint64_t csize = 0, usize = 0, header_offset = 0;
  };
  // Parses the central directory (zip64 too). `what` names the file in messages.
  ZipReader(std::string what, const uint8_t* data, size_t size);
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;  // nullptr if absent
  // The bytes of a stored entry, bounds- and CRC-checked. Throws for compressed entries.
  std::pair<const uint8_t*, uint64_t> read(const Entry& e) const;

 private:
  std::string what_;
  const uint8_t* data_;
  size_t size_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;  // name -> entries_ position
};

}  // namespace ish::weights
