#include "weights/zip.h"

#include <zlib.h>

#include <algorithm>


#include "engine/error.h"
#include "weights/text.h"

namespace ish::weights {

static uint64_t le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

ZipReader::ZipReader(std::string what, const uint8_t* data, size_t size)
    : what_(std::move(what)), data_(data), size_(size) {
  const std::string& w = what_;
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes, searched from the end.
  ISH_CHECK(size_ >= 22, w, ": truncated zip (", size_, " bytes, no end of central directory)");
  size_t eocd = SIZE_MAX;
  size_t lo = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
  for (size_t p = size_ - 22 + 1; p-- > lo;)
    if (le(data_ + p, 4) == 0x06054b50 && p + 22 + le(data_ + p + 20, 2) == size_) { eocd = p; break; }
  ISH_CHECK(eocd != SIZE_MAX, w, ": truncated or corrupt zip (no end of central directory record)");
  const uint8_t* e = data_ + eocd;
  ISH_CHECK(le(e + 4, 2) == 0 && le(e + 6, 2) == 0, w, ": multi-disk zip archives are not supported");
  uint64_t count = le(e + 10, 2), cd_size = le(e + 12, 4), cd_off = le(e + 16, 4);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
    // Zip64: a locator just before the EOCD points at the zip64 EOCD record.
    ISH_CHECK(eocd >= 20 && le(data_ + eocd - 20, 4) == 0x07064b50, w, ": zip64 archive without a zip64 locator");
    uint64_t z = le(data_ + eocd - 20 + 8, 8);
    ISH_CHECK(z <= size_ && size_ - z >= 56 && le(data_ + z, 4) == 0x06064b50, w,
              ": zip64 end of central directory out of range");
    count = le(data_ + z + 32, 8);
    cd_size = le(data_ + z + 40, 8);
    cd_off = le(data_ + z + 48, 8);
  }
  ISH_CHECK(cd_off <= size_ && cd_size <= size_ - cd_off, w, ": central directory [", cd_off, ", +", cd_size,
            ") lies outside the file (", size_, " bytes)");
  ISH_CHECK(count <= cd_size / 46, w, ": central directory claims ", count, " entries in ", cd_size, " bytes");
  const uint8_t* p = data_ + cd_off;
  const uint8_t* end = p + cd_size;
  for (uint64_t i = 0; i < count; i++) {
    ISH_CHECK(end - p >= 46 && le(p, 4) == 0x02014b50, w, ": corrupt central directory entry ", i);
    Entry en;
    uint64_t flags = le(p + 8, 2);
    en.method = (uint16_t)le(p + 10, 2);
    en.crc = (uint32_t)le(p + 16, 4);
    en.csize = le(p + 20, 4);
    en.usize = le(p + 24, 4);
    uint64_t nlen = le(p + 28, 2), xlen = le(p + 30, 2), clen = le(p + 32, 2);
    en.header_offset = le(p + 42, 4);
    ISH_CHECK((uint64_t)(end - p) >= 46 + nlen + xlen + clen, w, ": central directory entry ", i, " overruns");
    en.name.assign((const char*)p + 46, nlen);
    ISH_CHECK(!(flags & 1), w, ": entry ", qstr(en.name), " is encrypted");
    // Zip64 extended information: present fields replace the 0xFFFFFFFF placeholders, in this order.
    const uint8_t* x = p + 46 + nlen;
    const uint8_t* xend = x + xlen;
    while (xend - x >= 4) {
      uint64_t id = le(x, 2), len = le(x + 2, 2);
      ISH_CHECK((uint64_t)(xend - x - 4) >= len, w, ": entry ", qstr(en.name), ": corrupt extra field");
      if (id == 0x0001) {
        const uint8_t* q = x + 4;
        uint64_t left = len;
        auto take = [&](uint64_t& field) {
          if (field != 0xFFFFFFFF) return;
          ISH_CHECK(left >= 8, w, ": entry ", qstr(en.name), ": short zip64 extra field");
          field = le(q, 8);
          q += 8;
          left -= 8;
        };
        take(en.usize);
        take(en.csize);
        take(en.header_offset);
      }
      x += 4 + len;
    }
    ISH_CHECK(index_.emplace(en.name, entries_.size()).second, w, ": duplicate zip entry ", qstr(en.name));
    entries_.push_back(en);
    p += 46 + nlen + xlen + clen;
  }
}

const ZipReader::Entry* ZipReader::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::pair<const uint8_t*, uint64_t> ZipReader::read(const Entry& e) const {
  const std::string& w = what_;
  const std::string n = qstr(e.name);
  ISH_CHECK(e.method == 0, w, ": zip entry ", n, " is compressed (method ", e.method,
            e.method == 8 ? ", deflate" : "", "); only uncompressed (stored) entries are supported, as torch.save writes them");
  ISH_CHECK(e.csize == e.usize, w, ": stored zip entry ", n, " has compressed size ", e.csize, " != size ", e.usize);
  ISH_CHECK(e.header_offset <= size_ && size_ - e.header_offset >= 30, w, ": zip entry ", n,
            ": local header out of range");
  const uint8_t* h = data_ + e.header_offset;
  ISH_CHECK(le(h, 4) == 0x04034b50, w, ": zip entry ", n, ": bad local header signature");
  uint64_t start = e.header_offset + 30 + le(h + 26, 2) + le(h + 28, 2);
  ISH_CHECK(start <= size_ && e.usize <= size_ - start, w, ": zip entry ", n, ": data [", start, ", +", e.usize,
            ") runs past the end of the file (", size_, " bytes; truncated?)");
  const uint8_t* d = data_ + start;
  // crc32 takes a uInt length: feed it in chunks.
  uLong crc = crc32(0L, Z_NULL, 0);
  for (uint64_t off = 0; off < e.usize;) {
    uint64_t chunk = std::min<uint64_t>(e.usize - off, 1u << 30);
    crc = crc32(crc, d + off, (uInt)chunk);
    off += chunk;
  }
  ISH_CHECK((uint32_t)crc == e.crc, w, ": zip entry ", n, ": CRC-32 mismatch (corrupt file)");
  return {d, e.usize};
}

}  // namespace ish::weights
