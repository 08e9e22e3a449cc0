#include "infer/gguf.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/atomic_writer.h"

namespace flywheel::infer {

namespace {

constexpr uint32_t kDefaultAlignment = 32;
// Files use 32 (a few 64); a larger one would only pad the file.
constexpr uint32_t kMaxAlignment = 1u << 20;
constexpr uint32_t kMaxDims = 4;  // ggml's GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Bytes of one element of a fixed-size type (0 for string and array).
uint64_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    default:
      return 0;
  }
}

bool is_float_type(GgufValueType t) { return t == GgufValueType::kFloat32 || t == GgufValueType::kFloat64; }
bool is_int_type(GgufValueType t) { return scalar_size(t) != 0 && !is_float_type(t); }

// Reads little-endian fields from the file, every read bounds-checked.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& source) : bytes_(bytes), source_(source) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return bytes_.size() - pos_; }

  Status error(const std::string& what) const {
    return Status::corruption("GGUF " + source_ + ": " + what + " (at byte " + std::to_string(pos_) + ")");
  }

  template <typename T>
  Status read(T* out, const std::string& field) {
    if (left() < sizeof(T)) return error(field + " runs past the end of the file");
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::OK();
  }

  Status read_string(std::string* out, const std::string& field) {
    uint64_t length = 0;
    FW_RETURN_IF_ERROR(read(&length, field + " length"));
    if (length > left()) return error(field + " of " + std::to_string(length) + " bytes runs past the end of the file");
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return Status::OK();
  }

  // A fixed-size scalar of type t as an integer (bit pattern) or double.
  Status read_scalar(GgufValueType t, int64_t* integer, double* real, const std::string& field) {
    switch (t) {
      case GgufValueType::kUint8: {
        uint8_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kInt8: {
        int8_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kBool: {
        uint8_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        if (v > 1) return error(field + " is a bool of value " + std::to_string(v));
        *integer = v;
        break;
      }
      case GgufValueType::kUint16: {
        uint16_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kInt16: {
        int16_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kUint32: {
        uint32_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kInt32: {
        int32_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kUint64:
      case GgufValueType::kInt64: {
        int64_t v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *integer = v;
        break;
      }
      case GgufValueType::kFloat32: {
        float v = 0;
        FW_RETURN_IF_ERROR(read(&v, field));
        *real = v;
        break;
      }
      case GgufValueType::kFloat64: {
        FW_RETURN_IF_ERROR(read(real, field));
        break;
      }
      default:
        return error(field + " is not a scalar");
    }
    return Status::OK();
  }

  Status read_value(GgufValueType t, GgufValue* out, const std::string& field, int depth) {
    out->type = t;
    if (t == GgufValueType::kString) return read_string(&out->string, field);
    if (t != GgufValueType::kArray) return read_scalar(t, &out->integer, &out->real, field);
    if (depth >= kMaxArrayDepth) return error(field + " nests arrays deeper than " + std::to_string(kMaxArrayDepth));
    uint32_t element = 0;
    FW_RETURN_IF_ERROR(read(&element, field + " element type"));
    if (!known_value_type(element)) return error(field + " has unknown element type " + std::to_string(element));
    out->element_type = static_cast<GgufValueType>(element);
    uint64_t count = 0;
    FW_RETURN_IF_ERROR(read(&count, field + " count"));
    // Every element takes at least this many bytes: a count the file cannot
    // hold fails here, before anything is allocated.
    const uint64_t min_size = out->element_type == GgufValueType::kString  ? 8
                              : out->element_type == GgufValueType::kArray ? 12
                                                                           : scalar_size(out->element_type);
    if (count > left() / min_size)
      return error(field + " count " + std::to_string(count) + " runs past the end of the file");
    const std::string item = field + " element";
    if (out->element_type == GgufValueType::kString) {
      out->strings.resize(count);
      for (uint64_t i = 0; i < count; ++i) FW_RETURN_IF_ERROR(read_string(&out->strings[i], item));
    } else if (out->element_type == GgufValueType::kArray) {
      out->items.resize(count);
      for (uint64_t i = 0; i < count; ++i)
        FW_RETURN_IF_ERROR(read_value(GgufValueType::kArray, &out->items[i], item, depth + 1));
    } else if (is_float_type(out->element_type)) {
      out->reals.resize(count);
      int64_t unused = 0;
      for (uint64_t i = 0; i < count; ++i)
        FW_RETURN_IF_ERROR(read_scalar(out->element_type, &unused, &out->reals[i], item));
    } else {
      out->integers.resize(count);
      double unused = 0;
      for (uint64_t i = 0; i < count; ++i)
        FW_RETURN_IF_ERROR(read_scalar(out->element_type, &out->integers[i], &unused, item));
    }
    return Status::OK();
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& source_;
  uint64_t pos_ = 0;
};

// Appends little-endian fields to a string.
class Builder {
 public:
  template <typename T>
  void put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void put_string(std::string_view s) {
    put<uint64_t>(s.size());
    out_.append(s);
  }
  void put_scalar(GgufValueType t, int64_t integer, double real) {
    switch (t) {
      case GgufValueType::kUint8:
      case GgufValueType::kInt8:
      case GgufValueType::kBool:
        put<uint8_t>(static_cast<uint8_t>(integer));
        break;
      case GgufValueType::kUint16:
      case GgufValueType::kInt16:
        put<uint16_t>(static_cast<uint16_t>(integer));
        break;
      case GgufValueType::kUint32:
      case GgufValueType::kInt32:
        put<uint32_t>(static_cast<uint32_t>(integer));
        break;
      case GgufValueType::kUint64:
      case GgufValueType::kInt64:
        put<int64_t>(integer);
        break;
      case GgufValueType::kFloat32:
        put<float>(static_cast<float>(real));
        break;
      case GgufValueType::kFloat64:
        put<double>(real);
        break;
      default:
        break;
    }
  }
  Status put_value(const GgufValue& v, const std::string& key) {
    if (v.type == GgufValueType::kString) {
      put_string(v.string);
      return Status::OK();
    }
    if (v.type != GgufValueType::kArray) {
      if (!known_value_type(static_cast<uint32_t>(v.type)))
        return Status::invalid_argument("GGUF metadata " + key + ": unknown value type");
      put_scalar(v.type, v.integer, v.real);
      return Status::OK();
    }
    put<uint32_t>(static_cast<uint32_t>(v.element_type));
    put<uint64_t>(v.array_size());
    if (v.element_type == GgufValueType::kString) {
      for (const std::string& s : v.strings) put_string(s);
    } else if (v.element_type == GgufValueType::kArray) {
      for (const GgufValue& item : v.items) {
        if (item.type != GgufValueType::kArray)
          return Status::invalid_argument("GGUF metadata " + key + ": an array of arrays holds a non-array");
        FW_RETURN_IF_ERROR(put_value(item, key));
      }
    } else if (is_float_type(v.element_type)) {
      for (double r : v.reals) put_scalar(v.element_type, 0, r);
    } else if (scalar_size(v.element_type) != 0) {
      for (int64_t i : v.integers) put_scalar(v.element_type, i, 0.0);
    } else {
      return Status::invalid_argument("GGUF metadata " + key + ": unknown array element type");
    }
    return Status::OK();
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back('\0');
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

uint64_t align_up(uint64_t v, uint64_t alignment) { return (v + alignment - 1) / alignment * alignment; }

// The header (everything before the data section) and each tensor's offset.
Result<std::string> build_header(const std::vector<std::pair<std::string, GgufValue>>& metadata,
                                 const std::vector<GgufTensorToWrite>& tensors, uint32_t alignment,
                                 std::vector<uint64_t>* offsets) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kMaxAlignment)
    return Status::invalid_argument("GGUF alignment " + std::to_string(alignment) +
                                    " is not a power of two up to 2^20");
  std::vector<std::pair<std::string, GgufValue>> kvs = metadata;
  const bool has_alignment_key =
      std::any_of(kvs.begin(), kvs.end(), [](const auto& kv) { return kv.first == "general.alignment"; });
  if (!has_alignment_key && alignment != kDefaultAlignment)
    kvs.emplace_back("general.alignment", GgufValue::u32(alignment));
  std::map<std::string_view, int> seen;
  for (const auto& [key, value] : kvs) {
    if (seen[key]++ > 0) return Status::invalid_argument("GGUF metadata key " + key + " appears twice");
    if (key == "general.alignment" && (value.type != GgufValueType::kUint32 || value.integer != alignment))
      return Status::invalid_argument("GGUF general.alignment must be the u32 " + std::to_string(alignment));
  }
  Builder b;
  b.str().append("GGUF");
  b.put<uint32_t>(3);
  b.put<uint64_t>(tensors.size());
  b.put<uint64_t>(kvs.size());
  for (const auto& [key, value] : kvs) {
    b.put_string(key);
    b.put<uint32_t>(static_cast<uint32_t>(value.type));
    FW_RETURN_IF_ERROR(b.put_value(value, key));
  }
  std::map<std::string_view, int> names;
  uint64_t offset = 0;
  offsets->clear();
  for (const GgufTensorToWrite& t : tensors) {
    if (t.name.empty() || names[t.name]++ > 0)
      return Status::invalid_argument("GGUF tensor name \"" + t.name + "\" is empty or appears twice");
    if (t.dims.empty() || t.dims.size() > kMaxDims)
      return Status::invalid_argument("GGUF tensor " + t.name + ": 1 to 4 dims");
    int64_t elements = 1;
    for (int64_t d : t.dims) {
      if (d < 0) return Status::invalid_argument("GGUF tensor " + t.name + ": a negative dimension");
      elements *= d;
    }
    const TypeTraits tt = traits(t.type);
    if (t.dims[0] % tt.block_values != 0)
      return Status::invalid_argument("GGUF tensor " + t.name + ": ne0 " + std::to_string(t.dims[0]) +
                                      " is not a multiple of the " + std::string(tt.name) + " block size");
    const uint64_t bytes = static_cast<uint64_t>(elements / tt.block_values * tt.block_bytes);
    if (bytes != t.data.size())
      return Status::invalid_argument("GGUF tensor " + t.name + ": " + std::to_string(t.data.size()) +
                                      " bytes of data for " + std::to_string(bytes) + " expected");
    b.put_string(t.name);
    b.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) b.put<uint64_t>(static_cast<uint64_t>(d));
    b.put<uint32_t>(static_cast<uint32_t>(t.type));
    b.put<uint64_t>(offset);
    offsets->push_back(offset);
    offset = align_up(offset + bytes, alignment);
  }
  b.pad_to(alignment);
  return std::move(b.str());
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  static constexpr std::string_view kNames[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                                "bool",  "string", "array",  "uint64", "int64",  "float64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue out;
  out.type = GgufValueType::kUint32;
  out.integer = v;
  return out;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue out;
  out.type = GgufValueType::kInt32;
  out.integer = v;
  return out;
}
GgufValue GgufValue::u64(uint64_t v) {
  GgufValue out;
  out.type = GgufValueType::kUint64;
  out.integer = static_cast<int64_t>(v);
  return out;
}
GgufValue GgufValue::f32(float v) {
  GgufValue out;
  out.type = GgufValueType::kFloat32;
  out.real = v;
  return out;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue out;
  out.type = GgufValueType::kBool;
  out.integer = v ? 1 : 0;
  return out;
}
GgufValue GgufValue::str(std::string v) {
  GgufValue out;
  out.type = GgufValueType::kString;
  out.string = std::move(v);
  return out;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue out;
  out.type = GgufValueType::kArray;
  out.element_type = GgufValueType::kString;
  out.strings = std::move(v);
  return out;
}
GgufValue GgufValue::int_array(GgufValueType element, std::vector<int64_t> v) {
  GgufValue out;
  out.type = GgufValueType::kArray;
  out.element_type = element;
  out.integers = std::move(v);
  return out;
}
GgufValue GgufValue::float_array(GgufValueType element, std::vector<double> v) {
  GgufValue out;
  out.type = GgufValueType::kArray;
  out.element_type = element;
  out.reals = std::move(v);
  return out;
}

bool GgufValue::is_integer() const { return is_int_type(type); }
bool GgufValue::is_float() const { return is_float_type(type); }
size_t GgufValue::array_size() const {
  if (type != GgufValueType::kArray) return 0;
  if (element_type == GgufValueType::kString) return strings.size();
  if (element_type == GgufValueType::kArray) return items.size();
  if (is_float_type(element_type)) return reals.size();
  return integers.size();
}

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

Result<GgufFile> GgufFile::parse(std::span<const std::byte> bytes, std::string source) {
  GgufFile file;
  file.source_ = std::move(source);
  Cursor in(bytes, file.source_);
  char magic[4] = {};
  if (bytes.size() < 4) return in.error("magic: the file is shorter than 4 bytes");
  std::memcpy(magic, bytes.data(), 4);
  if (std::memcmp(magic, "GGUF", 4) != 0) return in.error("magic is not \"GGUF\"");
  uint32_t skip;
  FW_RETURN_IF_ERROR(in.read(&skip, "magic"));
  FW_RETURN_IF_ERROR(in.read(&file.version_, "version"));
  if (file.version_ != 2 && file.version_ != 3)
    return in.error("version " + std::to_string(file.version_) + " is not supported (2 and 3 are)");
  uint64_t tensor_count = 0, kv_count = 0;
  FW_RETURN_IF_ERROR(in.read(&tensor_count, "tensor_count"));
  FW_RETURN_IF_ERROR(in.read(&kv_count, "metadata_kv_count"));
  // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor
  // info 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
  if (kv_count > in.left() / 13)
    return in.error("metadata_kv_count " + std::to_string(kv_count) + " is more than the file can hold");
  if (tensor_count > in.left() / 24)
    return in.error("tensor_count " + std::to_string(tensor_count) + " is more than the file can hold");

  file.metadata_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key;
    FW_RETURN_IF_ERROR(in.read_string(&key, "metadata key " + std::to_string(i)));
    if (key.empty()) return in.error("metadata key " + std::to_string(i) + " is empty");
    uint32_t type = 0;
    FW_RETURN_IF_ERROR(in.read(&type, "metadata " + key + " type"));
    if (!known_value_type(type)) return in.error("metadata " + key + " has unknown value type " + std::to_string(type));
    GgufValue value;
    FW_RETURN_IF_ERROR(in.read_value(static_cast<GgufValueType>(type), &value, "metadata " + key, 0));
    if (!file.metadata_index_.emplace(key, file.metadata_.size()).second)
      return in.error("metadata key " + key + " appears twice");
    file.metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (const GgufValue* a = file.find("general.alignment")) {
    if (a->type != GgufValueType::kUint32 || a->integer == 0 || (a->integer & (a->integer - 1)) != 0 ||
        a->integer > kMaxAlignment)
      return in.error("general.alignment must be a u32 power of two up to 2^20");
    file.alignment_ = static_cast<uint32_t>(a->integer);
  }

  file.tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor t;
    FW_RETURN_IF_ERROR(in.read_string(&t.name, "tensor " + std::to_string(i) + " name"));
    const std::string what = "tensor " + t.name;
    if (t.name.empty()) return in.error("tensor " + std::to_string(i) + " has an empty name");
    uint32_t n_dims = 0;
    FW_RETURN_IF_ERROR(in.read(&n_dims, what + " n_dims"));
    if (n_dims == 0 || n_dims > kMaxDims) return in.error(what + " n_dims " + std::to_string(n_dims) + " (1 to 4)");
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      FW_RETURN_IF_ERROR(in.read(&dim, what + " dims"));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return in.error(what + " dimension " + std::to_string(dim) + " is too large");
      if (dim != 0 && elements > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(dim))
        return in.error(what + " dims overflow their product");
      elements *= static_cast<int64_t>(dim);
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    uint32_t type = 0;
    FW_RETURN_IF_ERROR(in.read(&type, what + " type"));
    Result<TypeTraits> tt = type_traits(type);
    if (!tt.ok()) return Status::unsupported("GGUF " + file.source_ + ": " + what + ": " + tt.status().message());
    t.type = static_cast<TensorType>(type);
    if (t.dims[0] % tt->block_values != 0)
      return in.error(what + " ne0 " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                      std::string(tt->name) + " block size " + std::to_string(tt->block_values));
    if (elements / tt->block_values > std::numeric_limits<int64_t>::max() / tt->block_bytes)
      return in.error(what + " byte size overflows");
    FW_RETURN_IF_ERROR(in.read(&t.offset, what + " offset"));
    if (t.offset % file.alignment_ != 0)
      return in.error(what + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                      std::to_string(file.alignment_));
    if (!file.tensor_index_.emplace(t.name, file.tensors_.size()).second)
      return in.error("tensor name " + t.name + " appears twice");
    file.tensors_.push_back(std::move(t));
  }

  const uint64_t data_offset = align_up(in.pos(), file.alignment_);
  file.data_offset_ = data_offset;
  if (!file.tensors_.empty() && data_offset > bytes.size())
    return in.error("the data section (after padding to the alignment " + std::to_string(file.alignment_) +
                    ") starts past the end of the file");
  const uint64_t data_size = data_offset <= bytes.size() ? bytes.size() - data_offset : 0;
  std::vector<const GgufTensor*> by_offset;
  for (GgufTensor& t : file.tensors_) {
    const TypeTraits tt = traits(t.type);
    const uint64_t size = static_cast<uint64_t>(t.elements() / tt.block_values * tt.block_bytes);
    if (t.offset > data_size || size > data_size - t.offset)
      return Status::corruption("GGUF " + file.source_ + ": tensor " + t.name + " data [" + std::to_string(t.offset) +
                                ", +" + std::to_string(size) + ") runs past the end of the file (data section of " +
                                std::to_string(data_size) + " bytes)");
    t.data = bytes.subspan(data_offset + t.offset, size);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor* prev = by_offset[i - 1];
    if (prev->offset + prev->data.size() > by_offset[i]->offset)
      return Status::corruption("GGUF " + file.source_ + ": tensor " + by_offset[i]->name + " overlaps tensor " +
                                prev->name);
  }
  return file;
}

Result<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  FW_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::open(path, "GGUF file"));
  FW_ASSIGN_OR_RETURN(GgufFile file, parse(mapping.bytes(), path.string()));
  file.mapping_ = std::move(mapping);
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::not_found("GGUF " + source_ + ": no metadata " + std::string(key));
  if (v->type != GgufValueType::kString)
    return Status::corruption("GGUF " + source_ + ": metadata " + std::string(key) + " is a " +
                              std::string(gguf_value_type_name(v->type)) + ", not a string");
  return v->string;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::not_found("GGUF " + source_ + ": no metadata " + std::string(key));
  if (!v->is_integer())
    return Status::corruption("GGUF " + source_ + ": metadata " + std::string(key) + " is a " +
                              std::string(gguf_value_type_name(v->type)) + ", not an integer");
  if (v->type == GgufValueType::kUint64 && v->integer < 0)
    return Status::corruption("GGUF " + source_ + ": metadata " + std::string(key) + " is too large");
  return v->integer;
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return Status::not_found("GGUF " + source_ + ": no metadata " + std::string(key));
  if (v->is_float()) return v->real;
  if (v->is_integer()) return static_cast<double>(v->integer);
  return Status::corruption("GGUF " + source_ + ": metadata " + std::string(key) + " is a " +
                            std::string(gguf_value_type_name(v->type)) + ", not a number");
}

std::optional<int64_t> GgufFile::int_or(std::string_view key) const {
  Result<int64_t> v = get_int(key);
  if (!v.ok()) return std::nullopt;
  return *v;
}

Result<std::string> serialize_gguf(const std::vector<std::pair<std::string, GgufValue>>& metadata,
                                   const std::vector<GgufTensorToWrite>& tensors, uint32_t alignment) {
  std::vector<uint64_t> offsets;
  FW_ASSIGN_OR_RETURN(std::string out, build_header(metadata, tensors, alignment, &offsets));
  const size_t data_start = out.size();
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.resize(data_start + offsets[i], '\0');
    out.append(reinterpret_cast<const char*>(tensors[i].data.data()), tensors[i].data.size());
  }
  return out;
}

Status write_gguf(const std::filesystem::path& path, const std::vector<std::pair<std::string, GgufValue>>& metadata,
                  const std::vector<GgufTensorToWrite>& tensors, uint32_t alignment) {
  std::vector<uint64_t> offsets;
  FW_ASSIGN_OR_RETURN(std::string header, build_header(metadata, tensors, alignment, &offsets));
  FW_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::create(path));
  FW_RETURN_IF_ERROR(writer.append(header));
  uint64_t written = 0;  // bytes of the data section so far
  const std::string zeros(alignment, '\0');
  for (size_t i = 0; i < tensors.size(); ++i) {
    FW_RETURN_IF_ERROR(writer.append(std::string_view(zeros.data(), offsets[i] - written)));
    FW_RETURN_IF_ERROR(
        writer.append(std::string_view(reinterpret_cast<const char*>(tensors[i].data.data()), tensors[i].data.size())));
    written = offsets[i] + tensors[i].data.size();
  }
  return writer.commit();
}

}  // namespace flywheel::infer
