// The README's configuration table against the code: every JOBSCHED_*,
// KAFKA_* and DATABASE_URL variable the services, libraries and scripts read
// is documented there, and every variable documented there is still read.
// JOBSCHED_CONFIG_README names another README to check (a draft of the table).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

// Stands for every KAFKA_CONFIG_<NAME> (config.cc reads the prefix).
constexpr char kKafkaConfig[] = "KAFKA_CONFIG_<NAME>";

std::string SourceDir() {
  const char* dir = std::getenv("JOBSCHED_SOURCE_DIR");
  return dir != nullptr ? dir : "";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Canonical(const std::string& name) {
  return name.rfind("KAFKA_CONFIG_", 0) == 0 ? kKafkaConfig : name;
}

// Variable -> the first file (relative to the source dir) that reads it. In
// C++, a string literal that is exactly a variable name (EnvOr("X", ...),
// getenv("X"), a local helper such as millis("X", ...)); in shell scripts,
// an expansion ($X or ${X...}).
std::map<std::string, std::string> NamesReadByCode(const fs::path& root) {
  static const std::regex kCpp(R"re("((?:JOBSCHED|KAFKA)_[A-Z0-9_]*|DATABASE_URL)")re");
  static const std::regex kShell(R"re(\$\{?((?:JOBSCHED|KAFKA)_[A-Z0-9_]*|DATABASE_URL))re");
  std::map<std::string, std::string> names;
  for (const char* top : {"services", "events", "projections", "infra"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file()) continue;
      const fs::path& path = entry.path();
      const std::string ext = path.extension().string();
      const bool cpp = ext == ".cc" || ext == ".h";
      if (!cpp && ext != ".sh") continue;
      if (path.stem().string().ends_with("_test")) continue;
      const std::string text = ReadFile(path);
      const std::regex& pattern = cpp ? kCpp : kShell;
      for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
        names.emplace(Canonical((*it)[1].str()), fs::relative(path, root).string());
      }
    }
  }
  return names;
}

// The names in the first column of the tables under "## Configuration".
std::set<std::string> NamesInReadme(const fs::path& readme) {
  static const std::regex kName(R"re(`([A-Z][A-Z0-9_]*(?:<NAME>)?)`)re");
  std::set<std::string> names;
  std::ifstream in(readme);
  std::string line;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      in_section = line == "## Configuration";
      continue;
    }
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const std::string first_cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), kName), end; it != end;
         ++it) {
      names.insert((*it)[1].str());
    }
  }
  return names;
}

fs::path Readme() {
  const char* other = std::getenv("JOBSCHED_CONFIG_README");
  return other != nullptr && *other != '\0' ? fs::path(other) : fs::path(SourceDir()) / "README.md";
}

TEST(ConfigTableTest, FindsWhatTheCodeReads) {
  ASSERT_FALSE(SourceDir().empty()) << "run through ctest (JOBSCHED_SOURCE_DIR)";
  auto names = NamesReadByCode(SourceDir());
  // A scanner that finds nothing would pass the checks below vacuously.
  EXPECT_EQ(names.count("KAFKA_BROKERS"), 1u);
  EXPECT_EQ(names.count(kKafkaConfig), 1u);
  EXPECT_EQ(names.count("DATABASE_URL"), 1u);
  EXPECT_EQ(names.count("JOBSCHED_EXECUTOR_SLOTS"), 1u);
  EXPECT_EQ(names.count("JOBSCHED_PRIORITY_AGING_MS"), 1u);  // through a local helper
  EXPECT_EQ(names.count("JOBSCHED_DEV_PG_PORT"), 1u);        // a script's
  EXPECT_EQ(names.count("JOBSCHED_BIN_DIR"), 0u);            // tests only
  auto documented = NamesInReadme(Readme());
  EXPECT_GT(documented.size(), 20u) << "no configuration table in " << Readme();
}

TEST(ConfigTableTest, EveryVariableReadIsDocumented) {
  auto documented = NamesInReadme(Readme());
  for (const auto& [name, file] : NamesReadByCode(SourceDir())) {
    EXPECT_TRUE(documented.count(name))
        << name << " is read by " << file << " but missing from the configuration table of "
        << Readme();
  }
}

TEST(ConfigTableTest, EveryDocumentedVariableIsRead) {
  auto read = NamesReadByCode(SourceDir());
  for (const auto& name : NamesInReadme(Readme())) {
    EXPECT_TRUE(read.count(name)) << name << " is in the configuration table of " << Readme()
                                  << " but nothing reads it any more";
  }
}

}  // namespace
