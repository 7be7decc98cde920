#include "schemas/compat/schema_compat.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

namespace jobsched::schemas {
namespace {

namespace pb = google::protobuf;

// Collects what makes a FileDescriptorProto unbuildable.
class ErrorCollector : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const pb::Message*, ErrorLocation, const std::string& message) override {
    if (!errors_.empty()) errors_ += "; ";
    errors_ += filename + ": " + element_name + ": " + message;
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string errors_;
};

Result<std::unique_ptr<pb::DescriptorPool>> BuildPool(const pb::FileDescriptorSet& set,
                                                       std::string_view which) {
  auto pool = std::make_unique<pb::DescriptorPool>();
  for (const auto& file : set.file()) {
    ErrorCollector errors;
    if (pool->BuildFileCollectingErrors(file, &errors) == nullptr) {
      return Status::Invalid(std::string(which) + " descriptor set does not build: " +
                             errors.errors() +
                             " (was it written with protoc --include_imports?)");
    }
  }
  return pool;
}

// 1-based line of a descriptor in its file, 0 when the set has no source info.
template <typename D>
int LineOf(const D* d) {
  pb::SourceLocation loc;
  return d != nullptr && d->GetSourceLocation(&loc) ? loc.start_line + 1 : 0;
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// "int32", "jobsched.v1.JobSpec", "map<string, double>", "repeated string".
std::string ScalarOrNamedType(const pb::FieldDescriptor* f) {
  switch (f->type()) {
    case pb::FieldDescriptor::TYPE_MESSAGE:
    case pb::FieldDescriptor::TYPE_GROUP:
      return f->message_type()->full_name();
    case pb::FieldDescriptor::TYPE_ENUM:
      return f->enum_type()->full_name();
    default:
      return f->type_name();
  }
}

std::string Cardinality(const pb::FieldDescriptor* f) {
  if (f->is_map()) return "map";
  return f->is_repeated() ? "repeated" : "singular";
}

std::string TypeText(const pb::FieldDescriptor* f) {
  if (f->is_map()) {
    return "map<" + ScalarOrNamedType(f->message_type()->map_key()) + ", " +
           ScalarOrNamedType(f->message_type()->map_value()) + ">";
  }
  return (f->is_repeated() ? "repeated " : "") + ScalarOrNamedType(f);
}

// The oneof a field belongs to, "" for none (proto3 `optional` fields sit in a
// synthetic oneof that is not part of the contract).
std::string OneofName(const pb::FieldDescriptor* f) {
  const pb::OneofDescriptor* o = f->real_containing_oneof();
  return o == nullptr ? "" : o->name();
}

std::string OneofText(const std::string& name) {
  return name.empty() ? "no oneof" : "oneof " + name;
}

std::string FieldText(const pb::FieldDescriptor* f) {
  return "field " + f->name() + " = " + std::to_string(f->number());
}

std::string ValueText(const pb::EnumValueDescriptor* v) {
  return "value " + v->name() + " = " + std::to_string(v->number());
}

// Whether every number of [start, end) is reserved in `current`; range(current,
// i) gives its i-th reserved range as a half-open [start, end) pair.
template <typename D, typename GetRange>
bool RangeStillReserved(const D* current, int start, int end, GetRange range) {
  int n = start;
  while (n < end) {
    bool covered = false;
    for (int i = 0; i < current->reserved_range_count(); ++i) {
      auto [s, e] = range(current, i);
      if (s <= n && n < e) {
        n = e;
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

std::string RangeText(int start, int end_exclusive) {
  if (end_exclusive - start == 1) return std::to_string(start);
  return std::to_string(start) + " to " + std::to_string(end_exclusive - 1);
}

class Checker {
 public:
  Checker(const pb::DescriptorPool& baseline, const pb::DescriptorPool& current,
          CompatReport& report)
      : baseline_(baseline), current_(current), report_(report) {}

  void CheckFile(const pb::FileDescriptor* base) {
    const pb::FileDescriptor* cur = current_.FindFileByName(base->name());
    if (cur == nullptr) {
      Break(base->name(), 0, "file", "", "the file is gone (removed or renamed)",
            "restore " + base->name() + ": consumers import it by this name; new files may "
            "be added beside it");
      return;
    }
    if (cur->package() != base->package()) {
      Break(cur->name(), 0, "file", "",
            "package changed from " + base->package() + " to " + cur->package(),
            "keep package " + base->package() + "; a breaking change is a new package "
            "(e.g. jobsched.v2) in new files, on a new topic (schemas/README.md rule 5)");
      return;
    }
    for (int i = 0; i < base->message_type_count(); ++i) CheckMessage(base->message_type(i));
    for (int i = 0; i < base->enum_type_count(); ++i) CheckEnum(base->enum_type(i));
  }

  // Lists what `current` has beyond the baseline.
  void ListAdditions(const pb::FileDescriptor* cur) {
    if (baseline_.FindFileByName(cur->name()) == nullptr) {
      report_.additions.push_back("file " + cur->name());
    }
    for (int i = 0; i < cur->message_type_count(); ++i) AddedInMessage(cur->message_type(i));
    for (int i = 0; i < cur->enum_type_count(); ++i) AddedInEnum(cur->enum_type(i));
  }

 private:
  void Break(const std::string& file, int line, std::string element, std::string member,
             std::string change, std::string fix) {
    report_.breaks.push_back({file, line, std::move(element), std::move(member),
                              std::move(change), std::move(fix)});
  }

  void CheckMessage(const pb::Descriptor* base) {
    if (base->options().map_entry()) return;  // checked through its map field
    const std::string element = "message " + base->full_name();
    const pb::Descriptor* cur = current_.FindMessageTypeByName(base->full_name());
    if (cur == nullptr) {
      Break(base->file()->name(), 0, element, "", "the message is gone (removed or renamed)",
            "restore message " + base->name() + " under its name: stored events and "
            "consumers' code refer to it; stop writing it instead of removing it");
      return;
    }
    if (cur->file()->name() != base->file()->name()) {
      Break(cur->file()->name(), LineOf(cur), element, "",
            "moved from " + base->file()->name() + " to " + cur->file()->name(),
            "move it back to " + base->file()->name() + ": consumers import that file");
    }
    for (int i = 0; i < base->field_count(); ++i) CheckField(base->field(i), cur);
    CheckReservedRanges(base, cur);
    for (int i = 0; i < base->nested_type_count(); ++i) CheckMessage(base->nested_type(i));
    for (int i = 0; i < base->enum_type_count(); ++i) CheckEnum(base->enum_type(i));
  }

  void CheckField(const pb::FieldDescriptor* base, const pb::Descriptor* cur_msg) {
    const std::string& file = cur_msg->file()->name();
    const std::string element = "message " + cur_msg->full_name();
    const std::string member = FieldText(base);
    const pb::FieldDescriptor* cur = cur_msg->FindFieldByNumber(base->number());
    if (cur == nullptr) {
      const pb::FieldDescriptor* same_name = cur_msg->FindFieldByName(base->name());
      if (same_name != nullptr) {
        Break(file, LineOf(same_name), element, member,
              "renumbered from " + std::to_string(base->number()) + " to " +
                  std::to_string(same_name->number()),
              "give " + base->name() + " its number " + std::to_string(base->number()) +
                  " back: old events carry it under that number");
        return;
      }
      const bool number_reserved = cur_msg->IsReservedNumber(base->number());
      const bool name_reserved = cur_msg->IsReservedName(base->name());
      if (number_reserved && name_reserved) return;  // removed the right way
      std::string missing;
      if (!number_reserved) missing += "reserved " + std::to_string(base->number()) + ";";
      if (!name_reserved) {
        missing += std::string(missing.empty() ? "" : " ") + "reserved " +
                   Quoted(base->name()) + ";";
      }
      Break(file, LineOf(cur_msg), element, member,
            "removed (" + TypeText(base) + ") without `" + missing + "`",
            "restore the field, or add `" + missing + "` to " + cur_msg->name() +
                ", so the number and name are never reused for something else");
      return;
    }
    const int line = LineOf(cur);
    if (cur->name() != base->name()) {
      Break(file, line, element, member,
            "renamed from " + base->name() + " to " + cur->name(),
            "keep the name " + base->name() + " (JSON and generated code use it); new meaning "
            "is a new field with a new number");
    }
    if (Cardinality(cur) != Cardinality(base)) {
      Break(file, line, element, member,
            "cardinality changed from " + Cardinality(base) + " (" + TypeText(base) + ") to " +
                Cardinality(cur) + " (" + TypeText(cur) + ")",
            "keep it " + Cardinality(base) + "; a new shape is a new field (new number, new "
            "name)");
    } else if (TypeText(cur) != TypeText(base)) {
      Break(file, line, element, member,
            "type changed from " + TypeText(base) + " to " + TypeText(cur),
            "keep " + TypeText(base) + "; add a new field (new number, new name) with the new "
            "type");
    }
    const std::string base_oneof = OneofName(base);
    const std::string cur_oneof = OneofName(cur);
    if (base_oneof != cur_oneof) {
      Break(file, line, element, member,
            "moved from " + OneofText(base_oneof) + " to " + OneofText(cur_oneof),
            "keep it in " + OneofText(base_oneof) + ": oneof membership changes which fields "
            "clear each other, so old and new readers disagree about the same bytes");
    }
  }

  void CheckReservedRanges(const pb::Descriptor* base, const pb::Descriptor* cur) {
    for (int i = 0; i < base->reserved_range_count(); ++i) {
      const auto* r = base->reserved_range(i);
      auto half_open = [](const pb::Descriptor* d, int j) {
        return std::pair<int, int>{d->reserved_range(j)->start, d->reserved_range(j)->end};
      };
      if (!RangeStillReserved(cur, r->start, r->end, half_open)) {
        Break(cur->file()->name(), LineOf(cur), "message " + cur->full_name(),
              "reserved " + RangeText(r->start, r->end), "no longer reserved",
              "keep `reserved " + RangeText(r->start, r->end) + ";`: events written before "
              "the removal still carry those numbers");
      }
    }
    for (int i = 0; i < base->reserved_name_count(); ++i) {
      if (!cur->IsReservedName(base->reserved_name(i))) {
        Break(cur->file()->name(), LineOf(cur), "message " + cur->full_name(),
              "reserved " + Quoted(base->reserved_name(i)), "no longer reserved",
              "keep `reserved " + Quoted(base->reserved_name(i)) + ";`");
      }
    }
  }

  void CheckEnum(const pb::EnumDescriptor* base) {
    const std::string element = "enum " + base->full_name();
    const pb::EnumDescriptor* cur = current_.FindEnumTypeByName(base->full_name());
    if (cur == nullptr) {
      Break(base->file()->name(), 0, element, "", "the enum is gone (removed or renamed)",
            "restore enum " + base->name() + " under its name: stored events and consumers' "
            "code refer to it");
      return;
    }
    const std::string& file = cur->file()->name();
    if (file != base->file()->name()) {
      Break(file, LineOf(cur), element, "",
            "moved from " + base->file()->name() + " to " + file,
            "move it back to " + base->file()->name() + ": consumers import that file");
    }
    for (int i = 0; i < base->value_count(); ++i) {
      const pb::EnumValueDescriptor* bv = base->value(i);
      const pb::EnumValueDescriptor* cv = cur->FindValueByNumber(bv->number());
      const std::string member = ValueText(bv);
      if (cv == nullptr) {
        const pb::EnumValueDescriptor* same_name = cur->FindValueByName(bv->name());
        if (same_name != nullptr) {
          Break(file, LineOf(same_name), element, member,
                "renumbered from " + std::to_string(bv->number()) + " to " +
                    std::to_string(same_name->number()),
                "give " + bv->name() + " its number " + std::to_string(bv->number()) +
                    " back: stored events carry the number");
          continue;
        }
        const bool number_reserved = cur->IsReservedNumber(bv->number());
        const bool name_reserved = cur->IsReservedName(bv->name());
        if (number_reserved && name_reserved) continue;
        std::string missing;
        if (!number_reserved) missing += "reserved " + std::to_string(bv->number()) + ";";
        if (!name_reserved) {
          missing += std::string(missing.empty() ? "" : " ") + "reserved " +
                     Quoted(bv->name()) + ";";
        }
        Break(file, LineOf(cur), element, member, "removed without `" + missing + "`",
              "restore the value, or add `" + missing + "` to enum " + cur->name() +
                  " (readers then see the number as unknown, never as another value)");
        continue;
      }
      if (cv->name() != bv->name()) {
        Break(file, LineOf(cv), element, member,
              "renamed from " + bv->name() + " to " + cv->name(),
              "keep the name " + bv->name() + " (JSON carries enum names); add the new "
              "value under a new number");
      }
    }
    for (int i = 0; i < base->reserved_range_count(); ++i) {
      const auto* r = base->reserved_range(i);
      // Enum reserved ranges are inclusive: [start, end].
      auto inclusive = [](const pb::EnumDescriptor* d, int j) {
        return std::pair<int, int>{d->reserved_range(j)->start, d->reserved_range(j)->end + 1};
      };
      if (!RangeStillReserved(cur, r->start, r->end + 1, inclusive)) {
        Break(file, LineOf(cur), element, "reserved " + RangeText(r->start, r->end + 1),
              "no longer reserved",
              "keep `reserved " + RangeText(r->start, r->end + 1) + ";`: stored events may "
              "carry those numbers");
      }
    }
    for (int i = 0; i < base->reserved_name_count(); ++i) {
      if (!cur->IsReservedName(base->reserved_name(i))) {
        Break(file, LineOf(cur), element, "reserved " + Quoted(base->reserved_name(i)),
              "no longer reserved", "keep `reserved " + Quoted(base->reserved_name(i)) + ";`");
      }
    }
  }

  void AddedInMessage(const pb::Descriptor* cur) {
    if (cur->options().map_entry()) return;
    const pb::Descriptor* base = baseline_.FindMessageTypeByName(cur->full_name());
    if (base == nullptr) {
      report_.additions.push_back("message " + cur->full_name());
      return;  // its fields and nested types are new with it
    }
    for (int i = 0; i < cur->field_count(); ++i) {
      const pb::FieldDescriptor* f = cur->field(i);
      if (base->FindFieldByNumber(f->number()) == nullptr) {
        report_.additions.push_back("field " + f->full_name() + " = " +
                                    std::to_string(f->number()));
      }
    }
    for (int i = 0; i < cur->nested_type_count(); ++i) AddedInMessage(cur->nested_type(i));
    for (int i = 0; i < cur->enum_type_count(); ++i) AddedInEnum(cur->enum_type(i));
  }

  void AddedInEnum(const pb::EnumDescriptor* cur) {
    const pb::EnumDescriptor* base = baseline_.FindEnumTypeByName(cur->full_name());
    if (base == nullptr) {
      report_.additions.push_back("enum " + cur->full_name());
      return;
    }
    for (int i = 0; i < cur->value_count(); ++i) {
      const pb::EnumValueDescriptor* v = cur->value(i);
      if (base->FindValueByNumber(v->number()) == nullptr) {
        report_.additions.push_back("value " + cur->full_name() + "." + v->name() + " = " +
                                    std::to_string(v->number()));
      }
    }
  }

  const pb::DescriptorPool& baseline_;
  const pb::DescriptorPool& current_;
  CompatReport& report_;
};

}  // namespace

std::string Incompatibility::Format(std::string_view file_prefix) const {
  std::string out = std::string(file_prefix) + file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": " + element;
  if (!member.empty()) out += ", " + member;
  out += ": " + change + "\n  fix: " + fix;
  return out;
}

Result<CompatReport> CheckCompatibility(const pb::FileDescriptorSet& baseline,
                                        const pb::FileDescriptorSet& current) {
  auto base_pool = BuildPool(baseline, "baseline");
  if (!base_pool.ok()) return base_pool.status();
  auto cur_pool = BuildPool(current, "current");
  if (!cur_pool.ok()) return cur_pool.status();

  CompatReport report;
  Checker checker(**base_pool, **cur_pool, report);
  for (const auto& file : baseline.file()) {
    checker.CheckFile((*base_pool)->FindFileByName(file.name()));
  }
  for (const auto& file : current.file()) {
    checker.ListAdditions((*cur_pool)->FindFileByName(file.name()));
  }
  return report;
}

Result<pb::FileDescriptorSet> ReadDescriptorSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open descriptor set " + path);
  std::stringstream bytes;
  bytes << in.rdbuf();
  pb::FileDescriptorSet set;
  const bool text = path.size() >= 6 && path.compare(path.size() - 6, 6, ".txtpb") == 0;
  const bool parsed = text ? pb::TextFormat::ParseFromString(bytes.str(), &set)
                           : set.ParseFromString(bytes.str());
  if (!parsed) {
    return Status::Invalid(path + " is not a " + (text ? "text" : "binary") +
                           " google.protobuf.FileDescriptorSet");
  }
  return set;
}

std::string BaselineText(pb::FileDescriptorSet set) {
  for (auto& file : *set.mutable_file()) file.clear_source_code_info();
  std::string text;
  pb::TextFormat::PrintToString(set, &text);
  return text;
}

}  // namespace jobsched::schemas
