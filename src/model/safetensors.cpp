#include "model/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "core/atomic_file.h"
#include "core/atomic_writer.h"

namespace flywheel {
namespace {

using nlohmann::json;

constexpr size_t kLengthBytes = 8;

std::string in_quotes(std::string_view s) {
  std::string out(1, '\'');
  out += s;
  out += '\'';
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out(1, '[');
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  out += ']';
  return out;
}

std::string range_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

uint64_t load_le64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// numel and byte size of a shape, or false on overflow. Like the reference,
// the product is checked step by step ([2^40, 2^40, 0] overflows).
bool checked_sizes(const std::vector<int64_t>& shape, DType dtype, uint64_t* numel, uint64_t* nbytes) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    const auto dim = static_cast<uint64_t>(d);
    if (dim != 0 && n > std::numeric_limits<uint64_t>::max() / dim) return false;
    n *= dim;
  }
  const uint64_t size = dtype_size(dtype);
  if (n > std::numeric_limits<uint64_t>::max() / size) return false;
  *numel = n;
  *nbytes = n * size;
  return true;
}

// A JSON integer >= 0 as uint64 (false for floats, negatives, other types).
bool json_to_u64(const json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {  // "-0"
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

// Parses the header text and reports the first duplicate key (nlohmann keeps
// the last silently; a duplicate tensor would otherwise surface as a hole).
struct HeaderJson {
  json value;
  std::string duplicate;  // "" or a description of the first duplicate key
};

HeaderJson parse_header_json(std::string_view text) {
  HeaderJson out;
  std::vector<std::set<std::string>> keys;  // one set per open object
  std::string top_key;                      // the current key of the top-level object
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (keys.size() == 1) top_key = key;
        if (!keys.empty() && !keys.back().insert(key).second && out.duplicate.empty()) {
          out.duplicate = keys.size() == 1 ? "key " + in_quotes(key) + " appears twice"
                                           : "key " + in_quotes(key) + " appears twice in " + in_quotes(top_key);
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  out.value = json::parse(text.begin(), text.end(), callback);  // throws json::parse_error
  return out;
}

struct Validator {
  std::string source;

  Status fail(const std::string& what) const { return Status::corruption(in_quotes(source) + ": " + what); }
  Status fail_tensor(std::string_view name, const std::string& what) const {
    return Status::corruption(in_quotes(source) + ": tensor " + in_quotes(name) + ": " + what);
  }

  Result<TensorView> tensor(const std::string& name, const json& entry, uint64_t data_size) const {
    if (!entry.is_object())
      return fail_tensor(name, std::string("entry is a JSON ") + entry.type_name() + ", not an object");
    TensorView view;
    view.name = name;

    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) return fail_tensor(name, "missing \"dtype\"");
    if (!dtype_it->is_string()) return fail_tensor(name, "\"dtype\" is not a string");
    const std::string& dtype_text = dtype_it->get_ref<const std::string&>();
    std::optional<DType> dtype = dtype_from_name(dtype_text);
    if (!dtype) {
      return fail_tensor(name, "unknown dtype " + in_quotes(dtype_text) +
                                   " (known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64)");
    }
    view.dtype = *dtype;

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) return fail_tensor(name, "missing \"shape\"");
    if (!shape_it->is_array()) return fail_tensor(name, "\"shape\" is not an array");
    for (const json& d : *shape_it) {
      uint64_t dim = 0;
      if (!json_to_u64(d, &dim))
        return fail_tensor(name, "\"shape\" holds " + d.dump() + ", not a non-negative integer");
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return fail_tensor(name, "dimension " + std::to_string(dim) + " in \"shape\" is too large");
      }
      view.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t numel = 0, nbytes = 0;
    if (!checked_sizes(view.shape, view.dtype, &numel, &nbytes)) {
      return fail_tensor(name, "shape " + shape_text(view.shape) + " has more elements than fit in 64 bits");
    }

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) return fail_tensor(name, "missing \"data_offsets\"");
    const json& offsets = *offsets_it;
    if (!offsets.is_array() || offsets.size() != 2 || !json_to_u64(offsets[0], &view.data_begin) ||
        !json_to_u64(offsets[1], &view.data_end)) {
      return fail_tensor(name, "\"data_offsets\" is " + offsets.dump() + ", not [begin, end] of non-negative integers");
    }
    const std::string range = "data_offsets " + range_text(view.data_begin, view.data_end);
    if (view.data_end < view.data_begin) return fail_tensor(name, range + " end before they begin");
    if (view.data_end - view.data_begin != nbytes) {
      return fail_tensor(name, range + " hold " + std::to_string(view.data_end - view.data_begin) +
                                   " bytes, but dtype " + std::string(dtype_name(view.dtype)) + " and shape " +
                                   shape_text(view.shape) + " need " + std::to_string(nbytes));
    }
    if (view.data_end > data_size) {
      return fail_tensor(name, range + " run past the end of the data buffer (" + std::to_string(data_size) +
                                   " bytes); the file may be truncated");
    }
    return view;
  }

  // Sorted by offset, the tensors must tile [0, data_size) exactly.
  Status tiling(const std::map<std::string, TensorView, std::less<>>& tensors, uint64_t data_size) const {
    std::vector<const TensorView*> order;
    order.reserve(tensors.size());
    for (const auto& [name, view] : tensors) order.push_back(&view);
    std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) {
      return std::tie(a->data_begin, a->data_end, a->name) < std::tie(b->data_begin, b->data_end, b->name);
    });
    uint64_t expected = 0;
    const TensorView* previous = nullptr;
    for (const TensorView* view : order) {
      const std::string range = "data_offsets " + range_text(view->data_begin, view->data_end);
      if (view->data_begin < expected) {
        return fail_tensor(view->name, range + " overlap tensor " + in_quotes(previous->name) + " at " +
                                           range_text(previous->data_begin, previous->data_end));
      }
      if (view->data_begin > expected) {
        std::string where = previous ? "after tensor " + in_quotes(previous->name) : "at the start of the data buffer";
        return fail_tensor(view->name, range + " leave a hole: bytes [" + std::to_string(expected) + ", " +
                                           std::to_string(view->data_begin) + ") " + where + " belong to no tensor");
      }
      expected = view->data_end;
      previous = view;
    }
    if (expected != data_size) {
      std::string where = previous ? "after tensor " + in_quotes(previous->name) : "(the header lists no tensor)";
      return fail("bytes [" + std::to_string(expected) + ", " + std::to_string(data_size) +
                  ") at the end of the data buffer belong to no tensor " + where);
    }
    return Status::OK();
  }
};

}  // namespace

int64_t TensorView::numel() const {
  // Unsigned: a product such as [2^62, 2, 0] passes through 2^63 on its way to 0.
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);
}

// ---- SafetensorsFile ---------------------------------------------------------

Result<SafetensorsFile> SafetensorsFile::parse(std::span<const std::byte> bytes, std::string source) {
  Validator check{source};
  if (bytes.size() < kLengthBytes) {
    return check.fail("file is " + std::to_string(bytes.size()) +
                      " bytes, too short for the 8-byte header length (truncated, or not a safetensors file)");
  }
  const uint64_t n = load_le64(bytes.data());
  const uint64_t after_length = bytes.size() - kLengthBytes;
  if (n < 2) return check.fail("header length " + std::to_string(n) + " is too small (the least is 2, for \"{}\")");
  if (n > kSafetensorsMaxHeaderSize) {
    return check.fail("header length " + std::to_string(n) + " exceeds the limit of " +
                      std::to_string(kSafetensorsMaxHeaderSize) + " bytes (not a safetensors file?)");
  }
  if (n > after_length) {
    return check.fail("header length " + std::to_string(n) + " runs past the end of the file (" +
                      std::to_string(after_length) + " bytes follow the length); the file may be truncated");
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + kLengthBytes), n);
  if (text.front() != '{') return check.fail("header does not start with '{' (not a safetensors file?)");
  // nlohmann's lexer takes a NUL byte for the end of input and would accept
  // "{}\0garbage"; valid JSON has no raw NUL anywhere (not even in strings).
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return check.fail("header is not valid JSON: NUL byte at header offset " + std::to_string(nul));
  }

  HeaderJson header;
  try {
    header = parse_header_json(text);
  } catch (const json::exception& e) {
    return check.fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.duplicate.empty()) return check.fail("header JSON: " + header.duplicate);
  if (!header.value.is_object()) return check.fail("header is not a JSON object");

  SafetensorsFile file;
  file.source_ = std::move(source);
  file.header_size_ = n;
  const uint64_t data_size = after_length - n;
  const std::byte* data = bytes.data() + kLengthBytes + n;
  for (const auto& [key, entry] : header.value.items()) {
    if (key == "__metadata__") {
      if (entry.is_null()) continue;
      if (!entry.is_object()) return check.fail("\"__metadata__\" is not an object of strings");
      for (const auto& [mkey, mvalue] : entry.items()) {
        if (!mvalue.is_string()) {
          return check.fail("\"__metadata__\" value of " + in_quotes(mkey) + " is " + mvalue.dump() + ", not a string");
        }
        file.metadata_.emplace(mkey, mvalue.get<std::string>());
      }
      continue;
    }
    Result<TensorView> view = check.tensor(key, entry, data_size);
    if (!view.ok()) return view.status();
    view->data = std::span<const std::byte>(data + view->data_begin, view->data_end - view->data_begin);
    file.tensors_.emplace(key, std::move(view).value());
  }
  FW_RETURN_IF_ERROR(check.tiling(file.tensors_, data_size));
  return file;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  FW_ASSIGN_OR_RETURN(MappedFile mapping, MappedFile::open(path, "safetensors file"));
  FW_ASSIGN_OR_RETURN(SafetensorsFile file, parse(mapping.bytes(), path.string()));
  file.mapping_ = std::move(mapping);
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, view] : tensors_) out.push_back(name);
  return out;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

// ---- SafetensorsCheckpoint ---------------------------------------------------

Result<SafetensorsCheckpoint> SafetensorsCheckpoint::open(const std::filesystem::path& dir_or_file) {
  SafetensorsCheckpoint checkpoint;
  std::error_code ec;
  auto add_single = [&](const std::filesystem::path& path) -> Result<SafetensorsCheckpoint> {
    FW_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
    checkpoint.files_.push_back(std::make_unique<SafetensorsFile>(std::move(file)));
    const SafetensorsFile& f = *checkpoint.files_.back();
    checkpoint.metadata_ = f.metadata();
    for (const auto& [name, view] : f.tensors()) checkpoint.index_.emplace(name, &view);
    return std::move(checkpoint);
  };
  if (std::filesystem::is_regular_file(dir_or_file, ec)) return add_single(dir_or_file);

  const std::filesystem::path single = dir_or_file / "model.safetensors";
  const std::filesystem::path index_path = dir_or_file / "model.safetensors.index.json";
  if (std::filesystem::exists(single, ec)) return add_single(single);
  if (!std::filesystem::exists(index_path, ec)) {
    if (!std::filesystem::is_directory(dir_or_file, ec)) {
      return Status::not_found("no checkpoint at " + in_quotes(dir_or_file.string()) + ": no such directory or file");
    }
    return Status::not_found("no weights in " + in_quotes(dir_or_file.string()) +
                             ": neither model.safetensors nor model.safetensors.index.json exists");
  }

  const std::string index_name = in_quotes(index_path.string());
  FW_ASSIGN_OR_RETURN(std::string text, read_file(index_path));
  json index;
  try {
    index = json::parse(text);
  } catch (const json::exception& e) {
    return Status::corruption(index_name + ": not valid JSON: " + e.what());
  }
  if (!index.is_object()) return Status::corruption(index_name + ": not a JSON object");
  auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object()) {
    return Status::corruption(index_name + ": missing \"weight_map\" object of tensor name to shard file");
  }
  if (auto meta_it = index.find("metadata"); meta_it != index.end() && !meta_it->is_null()) {
    if (!meta_it->is_object()) return Status::corruption(index_name + ": \"metadata\" is not an object");
    for (const auto& [key, value] : meta_it->items()) {
      checkpoint.metadata_.emplace(key, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }

  // Shard names, each opened once, in file-name order.
  std::map<std::string, SafetensorsFile*> shards;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) {
      return Status::corruption(index_name + ": tensor " + in_quotes(tensor) + " maps to " + shard.dump() +
                                ", not a file name");
    }
    const std::string& shard_name = shard.get_ref<const std::string&>();
    const std::filesystem::path shard_path(shard_name);
    bool escapes = shard_name.empty() || shard_path.is_absolute();
    for (const auto& part : shard_path) escapes = escapes || part == "..";
    if (escapes) {
      return Status::corruption(index_name + ": tensor " + in_quotes(tensor) + " maps to shard " +
                                in_quotes(shard_name) + ", which is not a file inside the checkpoint directory");
    }
    shards.emplace(shard_name, nullptr);
  }
  for (auto& [shard_name, file] : shards) {
    Result<SafetensorsFile> opened = SafetensorsFile::open(dir_or_file / shard_name);
    if (!opened.ok()) {
      return opened.status().with_context("shard " + in_quotes(shard_name) + " listed in " + index_name);
    }
    checkpoint.files_.push_back(std::make_unique<SafetensorsFile>(std::move(opened).value()));
    file = checkpoint.files_.back().get();
  }
  for (const auto& [tensor, shard] : map_it->items()) {
    const std::string& shard_name = shard.get_ref<const std::string&>();
    const TensorView* view = shards.at(shard_name)->find(tensor);
    if (view == nullptr) {
      return Status::corruption(index_name + " lists tensor " + in_quotes(tensor) + " in shard " +
                                in_quotes(shard_name) + ", but that shard has no such tensor");
    }
    checkpoint.index_.emplace(tensor, view);
  }
  return checkpoint;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& [name, view] : index_) out.push_back(name);
  return out;
}

const TensorView* SafetensorsCheckpoint::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

// ---- Writer ------------------------------------------------------------------

namespace {

struct Layout {
  std::string prefix;                       // 8-byte length + padded header
  std::vector<const TensorToWrite*> order;  // data order
};

Result<Layout> plan_layout(const std::vector<TensorToWrite>& tensors,
                           const std::map<std::string, std::string>& metadata) {
  std::set<std::string_view> seen;
  for (const TensorToWrite& t : tensors) {
    const std::string where = "cannot write tensor " + in_quotes(t.name) + ": ";
    if (t.name.empty()) return Status::invalid_argument("cannot write a tensor with an empty name");
    if (t.name == "__metadata__") return Status::invalid_argument(where + "the name is reserved for metadata");
    if (!seen.insert(t.name).second) return Status::invalid_argument(where + "the name appears twice");
    for (int64_t d : t.shape) {
      if (d < 0) return Status::invalid_argument(where + "negative dimension in shape " + shape_text(t.shape));
    }
    uint64_t numel = 0, nbytes = 0;
    if (!checked_sizes(t.shape, t.dtype, &numel, &nbytes)) {
      return Status::invalid_argument(where + "shape " + shape_text(t.shape) + " overflows 64 bits");
    }
    if (t.data.size() != nbytes) {
      return Status::invalid_argument(where + std::to_string(t.data.size()) + " bytes of data, but dtype " +
                                      std::string(dtype_name(t.dtype)) + " and shape " + shape_text(t.shape) +
                                      " need " + std::to_string(nbytes));
    }
  }

  Layout layout;
  for (const TensorToWrite& t : tensors) layout.order.push_back(&t);
  // The reference library's order: dtype descending in its enum order (which
  // DType mirrors), then name ascending.
  std::sort(layout.order.begin(), layout.order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const TensorToWrite* t : layout.order) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(dtype_name(t->dtype));
    entry["shape"] = t->shape;
    entry["data_offsets"] = {offset, offset + t->data.size()};
    offset += t->data.size();
    header[t->name] = std::move(entry);
  }
  std::string text;
  try {
    text = header.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::strict);
  } catch (const nlohmann::ordered_json::exception& e) {
    return Status::invalid_argument(std::string("cannot write safetensors: a tensor name or metadata is not UTF-8: ") +
                                    e.what());
  }
  // The data starts 8-aligned, as with the reference writer.
  text.append((kLengthBytes - text.size() % kLengthBytes) % kLengthBytes, ' ');
  if (text.size() > kSafetensorsMaxHeaderSize) {
    return Status::invalid_argument("cannot write safetensors: the header would be " + std::to_string(text.size()) +
                                    " bytes, over the readers' limit of " + std::to_string(kSafetensorsMaxHeaderSize));
  }
  uint64_t n = text.size();
  layout.prefix.resize(kLengthBytes);
  for (size_t i = 0; i < kLengthBytes; ++i) layout.prefix[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  layout.prefix += text;
  return layout;
}

std::string_view as_chars(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

Status write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata, FileSystem& fs) {
  Result<Layout> layout = plan_layout(tensors, metadata);
  if (!layout.ok()) return layout.status().with_context(in_quotes(path.string()));
  FW_ASSIGN_OR_RETURN(AtomicFileWriter writer, AtomicFileWriter::create(path, fs));
  FW_RETURN_IF_ERROR(writer.append(layout->prefix));
  for (const TensorToWrite* t : layout->order) FW_RETURN_IF_ERROR(writer.append(as_chars(t->data)));
  return writer.commit();
}

Result<std::string> serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                          const std::map<std::string, std::string>& metadata) {
  FW_ASSIGN_OR_RETURN(Layout layout, plan_layout(tensors, metadata));
  std::string out = std::move(layout.prefix);
  for (const TensorToWrite* t : layout.order) out += as_chars(t->data);
  return out;
}

}  // namespace flywheel
