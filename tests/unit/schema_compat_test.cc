// The schema contract: the schemas as built must stay compatible with the
// committed baseline (schemas/baseline/), and the checker must catch each kind
// of break. The negatives edit a copy of the REAL catalogue (its descriptor
// set in memory, or its .proto text compiled with protoc), so they break what
// consumers actually read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/text_format.h>

#include "schemas/compat/schema_compat.h"
#include "tests/support/process.h"

namespace jobsched::schemas {
namespace {

namespace pb = google::protobuf;
using jobsched::testing::BinPath;
using jobsched::testing::MakeTempDir;
using jobsched::testing::ReadFile;
using jobsched::testing::RunProcess;
using jobsched::testing::SourcePath;
using ::testing::HasSubstr;
using ::testing::Not;

std::string BaselinePath() { return SourcePath("schemas/baseline/jobsched-v1.txtpb"); }

pb::FileDescriptorSet MustRead(const std::string& path) {
  auto set = ReadDescriptorSet(path);
  if (!set.ok()) throw std::runtime_error(set.status().ToString());
  return *set;
}

// schemas/ as this build compiled it (with source info).
pb::FileDescriptorSet Current() { return MustRead(JOBSCHED_SCHEMA_DESCRIPTOR_SET); }

pb::FileDescriptorProto& File(pb::FileDescriptorSet& set, const std::string& name) {
  for (auto& f : *set.mutable_file()) {
    if (f.name() == name) return f;
  }
  throw std::runtime_error("no file " + name);
}

pb::DescriptorProto& Message(pb::FileDescriptorSet& set, const std::string& name) {
  for (auto& f : *set.mutable_file()) {
    for (auto& m : *f.mutable_message_type()) {
      if (m.name() == name) return m;
    }
  }
  throw std::runtime_error("no message " + name);
}

pb::EnumDescriptorProto& Enum(pb::FileDescriptorSet& set, const std::string& name) {
  for (auto& f : *set.mutable_file()) {
    for (auto& e : *f.mutable_enum_type()) {
      if (e.name() == name) return e;
    }
  }
  throw std::runtime_error("no enum " + name);
}

pb::FieldDescriptorProto& Field(pb::DescriptorProto& m, const std::string& name) {
  for (auto& f : *m.mutable_field()) {
    if (f.name() == name) return f;
  }
  throw std::runtime_error("no field " + name + " in " + m.name());
}

void RemoveField(pb::DescriptorProto& m, const std::string& name) {
  auto* fields = m.mutable_field();
  for (int i = 0; i < fields->size(); ++i) {
    if (fields->Get(i).name() == name) {
      fields->DeleteSubrange(i, 1);
      return;
    }
  }
  throw std::runtime_error("no field " + name + " in " + m.name());
}

void RemoveValue(pb::EnumDescriptorProto& e, const std::string& name) {
  auto* values = e.mutable_value();
  for (int i = 0; i < values->size(); ++i) {
    if (values->Get(i).name() == name) {
      values->DeleteSubrange(i, 1);
      return;
    }
  }
  throw std::runtime_error("no value " + name + " in " + e.name());
}

CompatReport Check(const pb::FileDescriptorSet& baseline, const pb::FileDescriptorSet& current) {
  auto report = CheckCompatibility(baseline, current);
  if (!report.ok()) throw std::runtime_error(report.status().ToString());
  return *report;
}

// Every break, formatted as the CLI prints it.
std::string Text(const CompatReport& r) {
  std::string out;
  for (const auto& b : r.breaks) out += b.Format("schemas/") + "\n";
  return out;
}

// The 1-based line `line` of a file under schemas/.
std::string SchemaLine(const std::string& file, int line) {
  std::istringstream in(ReadFile(SourcePath("schemas/" + file)));
  std::string text;
  for (int i = 0; i < line && std::getline(in, text); ++i) {
  }
  return text;
}

TEST(SchemaCompat, CurrentSchemasAreCompatibleWithTheCommittedBaseline) {
  CompatReport r = Check(MustRead(BaselinePath()), Current());
  EXPECT_TRUE(r.ok()) << Text(r);
  for (const auto& a : r.additions) std::cout << "not yet in the baseline: " << a << "\n";
}

TEST(SchemaCompat, BaselineHoldsTheWholeCatalogue) {
  // An empty or partial baseline would pass everything: pin what it must hold.
  pb::FileDescriptorSet base = MustRead(BaselinePath());
  std::vector<std::string> names;
  for (const auto& f : base.file()) names.push_back(f.name());
  for (const char* want : {"jobsched/v1/events.proto", "jobsched/v1/runtime.proto",
                           "jobsched/v1/state.proto", "google/protobuf/timestamp.proto"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  const pb::DescriptorProto& envelope = Message(base, "Envelope");
  EXPECT_GE(envelope.field_size(), 6 + 33);  // headers + every event of version 1
  CompatReport self = Check(base, base);
  EXPECT_TRUE(self.ok()) << Text(self);
  EXPECT_TRUE(self.additions.empty());
}

TEST(SchemaCompat, RemovedFieldFailsNamingFileMessageFieldAndFix) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  RemoveField(Message(cur, "RunDue"), "attempt");
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 1u) << Text(r);
  const std::string text = Text(r);
  EXPECT_THAT(text, HasSubstr("schemas/jobsched/v1/events.proto:"));
  EXPECT_THAT(text, HasSubstr("message jobsched.v1.RunDue, field attempt = 2: removed (int32)"));
  EXPECT_THAT(text, HasSubstr("fix: restore the field, or add `reserved 2; reserved "
                              "\"attempt\";` to RunDue"));
  // The line is the message's, in the current file.
  EXPECT_THAT(SchemaLine(r.breaks[0].file, r.breaks[0].line), HasSubstr("message RunDue {"));
}

TEST(SchemaCompat, RemovedFieldPassesOnlyWithNumberAndNameReserved) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::DescriptorProto& run_due = Message(cur, "RunDue");
  RemoveField(run_due, "attempt");
  auto* range = run_due.add_reserved_range();
  range->set_start(2);
  range->set_end(3);
  CompatReport number_only = Check(base, cur);
  ASSERT_EQ(number_only.breaks.size(), 1u) << Text(number_only);
  EXPECT_THAT(Text(number_only), HasSubstr("without `reserved \"attempt\";`"));
  EXPECT_THAT(Text(number_only), Not(HasSubstr("reserved 2;")));

  run_due.add_reserved_name("attempt");
  CompatReport both = Check(base, cur);
  EXPECT_TRUE(both.ok()) << Text(both);
}

TEST(SchemaCompat, RenumberedFieldFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  Field(Message(cur, "RunDue"), "attempt").set_number(50);
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 1u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.RunDue, field attempt = 2: renumbered "
                                 "from 2 to 50"));
  EXPECT_THAT(Text(r), HasSubstr("fix: give attempt its number 2 back"));
}

TEST(SchemaCompat, ChangedScalarTypeFailsOnTheFieldsLine) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  Field(Message(cur, "RunSucceeded"), "duration_ms").set_type(pb::FieldDescriptorProto::TYPE_INT32);
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 1u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.RunSucceeded, field duration_ms = 6: "
                                 "type changed from int64 to int32"));
  EXPECT_THAT(Text(r), HasSubstr("fix: keep int64; add a new field"));
  EXPECT_EQ(r.breaks[0].file, "jobsched/v1/events.proto");
  EXPECT_THAT(SchemaLine(r.breaks[0].file, r.breaks[0].line), HasSubstr("int64 duration_ms = 6;"));
}

TEST(SchemaCompat, ChangedMessageOrEnumTypeFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  Field(Message(cur, "JobSubmitted"), "spec").set_type_name(".jobsched.v1.RetryPolicy");
  auto& kind = Field(Message(cur, "RunFailed"), "kind");
  kind.set_type_name(".jobsched.v1.SkipReason");
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 2u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.JobSubmitted, field spec = 1: type changed "
                                 "from jobsched.v1.JobSpec to jobsched.v1.RetryPolicy"));
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.RunFailed, field kind = 4: type changed "
                                 "from jobsched.v1.FailureKind to jobsched.v1.SkipReason"));
}

TEST(SchemaCompat, ChangedCardinalityOrMapValueFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::DescriptorProto& spec = Message(cur, "JobSpec");
  Field(spec, "depends_on").set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  for (auto& nested : *spec.mutable_nested_type()) {
    if (nested.name() == "ResourcesEntry") {
      Field(nested, "value").set_type(pb::FieldDescriptorProto::TYPE_INT64);
    }
  }
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 2u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("field depends_on = 15: cardinality changed from repeated "
                                 "(repeated string) to singular (string)"));
  EXPECT_THAT(Text(r), HasSubstr("field resources = 12: type changed from map<string, double> "
                                 "to map<string, int64>"));
}

TEST(SchemaCompat, RemovedEnumValueFailsUnlessReserved) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::EnumDescriptorProto& kind = Enum(cur, "FailureKind");
  RemoveValue(kind, "FAILURE_KIND_TIMED_OUT");
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 1u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("enum jobsched.v1.FailureKind, value FAILURE_KIND_TIMED_OUT = 3: "
                                 "removed without `reserved 3; reserved "
                                 "\"FAILURE_KIND_TIMED_OUT\";`"));
  EXPECT_THAT(SchemaLine(r.breaks[0].file, r.breaks[0].line), HasSubstr("enum FailureKind {"));

  auto* range = kind.add_reserved_range();  // enum ranges are inclusive
  range->set_start(3);
  range->set_end(3);
  kind.add_reserved_name("FAILURE_KIND_TIMED_OUT");
  CompatReport reserved = Check(base, cur);
  EXPECT_TRUE(reserved.ok()) << Text(reserved);
}

TEST(SchemaCompat, RenamedOrRenumberedEnumValueFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::EnumDescriptorProto& reason = Enum(cur, "SkipReason");
  reason.mutable_value(1)->set_name("SKIP_REASON_BUSY");  // was SKIP_REASON_OVERLAP = 1
  reason.mutable_value(3)->set_number(7);                 // SKIP_REASON_DST_GAP = 3
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 2u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("value SKIP_REASON_OVERLAP = 1: renamed from "
                                 "SKIP_REASON_OVERLAP to SKIP_REASON_BUSY"));
  EXPECT_THAT(Text(r), HasSubstr("value SKIP_REASON_DST_GAP = 3: renumbered from 3 to 7"));
}

TEST(SchemaCompat, FieldMovedIntoOrOutOfAOneofFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::DescriptorProto& envelope = Message(cur, "Envelope");
  ASSERT_EQ(envelope.oneof_decl(0).name(), "event");
  Field(envelope, "causation_id").set_oneof_index(0);
  // The oneof's last member (its members must stay consecutive to build).
  Field(envelope, "workflow_started").clear_oneof_index();
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 2u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.Envelope, field causation_id = 6: moved "
                                 "from no oneof to oneof event"));
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.Envelope, field workflow_started = 48: "
                                 "moved from oneof event to no oneof"));
}

TEST(SchemaCompat, RenamedFieldFails) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  Field(Message(cur, "Envelope"), "producer").set_name("source");
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 1u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("field producer = 4: renamed from producer to source"));
}

TEST(SchemaCompat, RemovedOrRenamedMessageAndEnumFail) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  Message(cur, "RunLost").set_name("RunGone");
  Field(Message(cur, "Envelope"), "run_lost").set_type_name(".jobsched.v1.RunGone");
  Enum(cur, "FireKind").set_name("FireOrigin");
  Field(Message(cur, "RunDue"), "kind").set_type_name(".jobsched.v1.FireOrigin");
  Field(Message(cur, "RunRecord"), "kind").set_type_name(".jobsched.v1.FireOrigin");
  CompatReport r = Check(base, cur);
  const std::string text = Text(r);
  EXPECT_THAT(text, HasSubstr("message jobsched.v1.RunLost: the message is gone"));
  EXPECT_THAT(text, HasSubstr("enum jobsched.v1.FireKind: the enum is gone"));
  EXPECT_THAT(text, HasSubstr("field run_lost = 36: type changed from jobsched.v1.RunLost to "
                              "jobsched.v1.RunGone"));
  EXPECT_THAT(text, HasSubstr("field kind = 8: type changed from jobsched.v1.FireKind to "
                              "jobsched.v1.FireOrigin"));
}

TEST(SchemaCompat, UnreservingANumberFails) {
  // JobState reserves 11 and "applied_event_ids" (removed before release).
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  pb::DescriptorProto& state = Message(cur, "JobState");
  ASSERT_GT(state.reserved_range_size(), 0);
  state.clear_reserved_range();
  state.clear_reserved_name();
  CompatReport r = Check(base, cur);
  EXPECT_THAT(Text(r), HasSubstr("schemas/jobsched/v1/state.proto:"));
  EXPECT_THAT(Text(r), HasSubstr("message jobsched.v1.JobState, reserved 11: no longer reserved"));
  EXPECT_THAT(Text(r), HasSubstr("reserved \"applied_event_ids\": no longer reserved"));
}

TEST(SchemaCompat, ChangedPackageOrRemovedFileFails) {
  pb::FileDescriptorSet base;
  ASSERT_TRUE(pb::TextFormat::ParseFromString(R"pb(
    file { name: "acme/a.proto" package: "acme.v1" syntax: "proto3"
           message_type { name: "A" field { name: "x" number: 1 type: TYPE_INT32
                                            label: LABEL_OPTIONAL } } }
    file { name: "acme/b.proto" package: "acme.v1" syntax: "proto3"
           message_type { name: "B" } }
  )pb", &base));
  pb::FileDescriptorSet cur = base;
  cur.mutable_file(0)->set_package("acme.v2");
  cur.mutable_file()->DeleteSubrange(1, 1);
  CompatReport r = Check(base, cur);
  ASSERT_EQ(r.breaks.size(), 2u) << Text(r);
  EXPECT_THAT(Text(r), HasSubstr("schemas/acme/a.proto: file: package changed from acme.v1 to "
                                 "acme.v2"));
  EXPECT_THAT(Text(r), HasSubstr("schemas/acme/b.proto: file: the file is gone"));
}

TEST(SchemaCompat, AddingFieldsValuesAndAnEventPasses) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  auto* note = Message(cur, "RunDue").add_field();
  note->set_name("note");
  note->set_number(40);
  note->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  note->set_type(pb::FieldDescriptorProto::TYPE_STRING);
  auto* value = Enum(cur, "FailureKind").add_value();
  value->set_name("FAILURE_KIND_OOM");
  value->set_number(9);
  // A new event: its message and its member of Envelope.event.
  pb::FileDescriptorProto& events = File(cur, "jobsched/v1/events.proto");
  auto* parked = events.add_message_type();
  parked->set_name("RunParked");
  auto* run_id = parked->add_field();
  run_id->set_name("run_id");
  run_id->set_number(1);
  run_id->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  run_id->set_type(pb::FieldDescriptorProto::TYPE_STRING);
  auto* member = Message(cur, "Envelope").add_field();
  member->set_name("run_parked");
  member->set_number(99);
  member->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
  member->set_type(pb::FieldDescriptorProto::TYPE_MESSAGE);
  member->set_type_name(".jobsched.v1.RunParked");
  member->set_oneof_index(0);

  CompatReport r = Check(base, cur);
  EXPECT_TRUE(r.ok()) << Text(r);
  std::vector<std::string> additions = r.additions;
  std::sort(additions.begin(), additions.end());
  EXPECT_EQ(additions, (std::vector<std::string>{
                           "field jobsched.v1.Envelope.run_parked = 99",
                           "field jobsched.v1.RunDue.note = 40",
                           "message jobsched.v1.RunParked",
                           "value jobsched.v1.FailureKind.FAILURE_KIND_OOM = 9"}));
}

TEST(SchemaCompat, UnbuildableSetIsAnErrorNamingIt) {
  pb::FileDescriptorSet base = Current();
  pb::FileDescriptorSet cur = base;
  cur.mutable_file()->DeleteSubrange(0, 1);  // google/protobuf/timestamp.proto, imported by all
  auto r = CheckCompatibility(base, cur);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("current descriptor set does not build"));
  EXPECT_THAT(r.status().message(), HasSubstr("google/protobuf/timestamp.proto"));
}

// The path a developer takes: edit the .proto text, compile with protoc, run
// jobsched-schema-check (what infra/schema-baseline.sh --check runs).
class SchemaCheckCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("schema-compat-");
    std::filesystem::create_directories(dir_ + "/jobsched/v1");
    for (const char* f : {"events.proto", "runtime.proto", "state.proto"}) {
      const std::string text = ReadFile(SourcePath(std::string("schemas/jobsched/v1/") + f));
      ASSERT_FALSE(text.empty()) << f;
      Write(std::string("jobsched/v1/") + f, text);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/" + rel, std::ios::trunc) << text;
  }
  // Replaces the one occurrence of `from` in the copy of events.proto.
  void EditEvents(const std::string& from, const std::string& to) {
    std::string text = ReadFile(dir_ + "/jobsched/v1/events.proto");
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    ASSERT_EQ(text.find(from, at + 1), std::string::npos) << "not unique: " << from;
    text.replace(at, from.size(), to);
    Write("jobsched/v1/events.proto", text);
  }
  // protoc on the edited copy; returns the descriptor set's path.
  std::string Compile() {
    const std::string out = dir_ + "/current.pb";
    const int code = RunProcess(
        JOBSCHED_PROTOC,
        {"--include_imports", "--include_source_info", "--descriptor_set_out=" + out, "-I", dir_,
         dir_ + "/jobsched/v1/events.proto", dir_ + "/jobsched/v1/runtime.proto",
         dir_ + "/jobsched/v1/state.proto"},
        dir_ + "/protoc.log", std::chrono::seconds(30));
    EXPECT_EQ(code, 0) << ReadFile(dir_ + "/protoc.log");
    return out;
  }
  // Runs the CLI against the committed baseline; returns its exit code.
  int RunCheck(const std::string& current) {
    std::filesystem::remove(dir_ + "/check.log");
    return RunProcess(BinPath("jobsched-schema-check"),
                      {"--baseline", BaselinePath(), "--current", current},
                      dir_ + "/check.log", std::chrono::seconds(30));
  }
  std::string CheckLog() { return ReadFile(dir_ + "/check.log"); }

  std::string dir_;
};

TEST_F(SchemaCheckCli, UnchangedCopyPasses) {
  EXPECT_EQ(RunCheck(Compile()), 0) << CheckLog();
  EXPECT_THAT(CheckLog(), HasSubstr("schema check: compatible with"));
}

TEST_F(SchemaCheckCli, RemovedFieldInTheProtoTextFailsWithItsLine) {
  EditEvents("  int32 attempt = 2;                             // 1-based\n", "");
  EXPECT_EQ(RunCheck(Compile()), 1) << CheckLog();
  const std::string log = CheckLog();
  EXPECT_THAT(log, HasSubstr("1 incompatible change(s)"));
  EXPECT_THAT(log, HasSubstr("schemas/jobsched/v1/events.proto:"));
  EXPECT_THAT(log, HasSubstr("message jobsched.v1.RunDue, field attempt = 2: removed"));
  EXPECT_THAT(log, HasSubstr("never update the baseline to hide a break"));
}

TEST_F(SchemaCheckCli, FieldMovedIntoTheOneofInTheProtoTextFails) {
  EditEvents("  string causation_id = 6;    // event_id of the event that caused this one\n", "");
  EditEvents("  oneof event {\n", "  oneof event {\n    string causation_id = 6;\n");
  EXPECT_EQ(RunCheck(Compile()), 1) << CheckLog();
  EXPECT_THAT(CheckLog(), HasSubstr("message jobsched.v1.Envelope, field causation_id = 6: moved "
                                    "from no oneof to oneof event"));
}

TEST_F(SchemaCheckCli, AddedEventInTheProtoTextPassesAndIsListed) {
  EditEvents("// The unit of the `job-events` topic.\n",
             "message RunParked {\n  string run_id = 1;\n}\n\n"
             "// The unit of the `job-events` topic.\n");
  EditEvents("    WorkflowStarted workflow_started = 48;\n",
             "    WorkflowStarted workflow_started = 48;\n    RunParked run_parked = 49;\n");
  EXPECT_EQ(RunCheck(Compile()), 0) << CheckLog();
  EXPECT_THAT(CheckLog(), HasSubstr("+ message jobsched.v1.RunParked"));
  EXPECT_THAT(CheckLog(), HasSubstr("+ field jobsched.v1.Envelope.run_parked = 49"));
}

}  // namespace
}  // namespace jobsched::schemas
