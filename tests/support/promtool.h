// `promtool check metrics` (the Prometheus package's linter) on an exposition
// text, for tests of /metrics endpoints.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/support/process.h"

namespace jobsched::testing {

inline const char* kPromtool = "/usr/bin/promtool";

inline bool HavePromtool() { return access(kPromtool, X_OK) == 0; }

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // its findings (lint problems, parse errors)
};

// Feeds `text` to `promtool check metrics` on stdin. Exit code 0: it parsed
// and found nothing to complain about.
inline PromtoolResult PromtoolCheckMetrics(const std::string& text) {
  const std::string dir = MakeTempDir("promtool-");
  const std::string in = dir + "/metrics.txt";
  const std::string out = dir + "/out.txt";
  if (FILE* f = std::fopen(in.c_str(), "w")) {
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  const std::string cmd =
      std::string(kPromtool) + " check metrics < '" + in + "' > '" + out + "' 2>&1";
  const int status = std::system(cmd.c_str());
  PromtoolResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.output = ReadFile(out);
  std::remove(in.c_str());
  std::remove(out.c_str());
  rmdir(dir.c_str());
  return r;
}

}  // namespace jobsched::testing
