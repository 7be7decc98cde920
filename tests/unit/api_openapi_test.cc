// The OpenAPI document the API serves (services/api/openapi.json, compiled
// in) against the router's table (routes.h): the same (method, path) pairs
// both ways, every path parameter declared, every $ref resolvable, every
// operation with a unique operationId and a response.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "services/api/openapi.h"
#include "services/api/routes.h"

namespace jobsched::api {
namespace {

using nlohmann::json;

// The HTTP methods an OpenAPI path item may hold, as it spells them.
const std::vector<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

json Document() { return json::parse(OpenApiDocument()); }

// The "{name}" segments of a path template, in order.
std::vector<std::string> TemplateParams(const std::string& path) {
  std::vector<std::string> out;
  for (std::string_view segment : SplitPath(path)) {
    if (segment.size() >= 2 && segment.front() == '{' && segment.back() == '}') {
      out.emplace_back(segment.substr(1, segment.size() - 2));
    }
  }
  return out;
}

// The value a local reference ("#/components/schemas/Job") points to, or
// nullptr when it points nowhere.
const json* Resolve(const json& doc, const std::string& ref) {
  if (ref.rfind("#/", 0) != 0) return nullptr;  // only local references are used
  const json* at = &doc;
  std::string rest = ref.substr(2);
  while (true) {
    const size_t slash = rest.find('/');
    std::string token = rest.substr(0, slash);
    // JSON pointer escapes: ~1 is '/', ~0 is '~' (in that order).
    for (size_t i; (i = token.find("~1")) != std::string::npos;) token.replace(i, 2, "/");
    for (size_t i; (i = token.find("~0")) != std::string::npos;) token.replace(i, 2, "~");
    if (!at->is_object() || !at->contains(token)) return nullptr;
    at = &(*at)[token];
    if (slash == std::string::npos) return at;
    rest = rest.substr(slash + 1);
  }
}

// Every "$ref" in `node`, with where it sits.
void CollectRefs(const json& node, const std::string& where,
                 std::vector<std::pair<std::string, std::string>>* refs) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) {
        refs->emplace_back(where, value.get<std::string>());
      } else {
        CollectRefs(value, where + "/" + key, refs);
      }
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      CollectRefs(node[i], where + "/" + std::to_string(i), refs);
    }
  }
}

// A parameter object, its $ref followed.
const json& Deref(const json& doc, const json& node) {
  if (node.contains("$ref")) {
    const json* target = Resolve(doc, node["$ref"].get<std::string>());
    if (target != nullptr) return *target;
  }
  return node;
}

// What differs between the document's (method, path) pairs and `routes`,
// one message per pair: first those served but not documented, then the
// reverse.
std::vector<std::string> RouteDifferences(const json& doc, const std::vector<RouteSpec>& routes) {
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const std::string& method : kMethods) {
      if (item.contains(method)) documented.emplace(Upper(method), path);
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const RouteSpec& route : routes) served.emplace(route.method, route.path);
  std::vector<std::string> out;
  for (const auto& [method, path] : served) {
    if (!documented.count({method, path})) {
      out.push_back(method + " " + path + " is served but not in services/api/openapi.json");
    }
  }
  for (const auto& [method, path] : documented) {
    if (!served.count({method, path})) {
      out.push_back(method + " " + path + " is documented but not in ApiRoutes() (routes.cc)");
    }
  }
  return out;
}

// One message per $ref that resolves to nothing.
std::vector<std::string> DanglingRefs(const json& doc) {
  std::vector<std::pair<std::string, std::string>> refs;
  CollectRefs(doc, "#", &refs);
  std::vector<std::string> out;
  for (const auto& [where, ref] : refs) {
    if (Resolve(doc, ref) == nullptr) {
      out.push_back(where + ": $ref " + ref + " resolves to nothing");
    }
  }
  return out;
}

TEST(ApiOpenApiTest, IsAnOpenApi303Document) {
  json doc = Document();
  EXPECT_EQ(doc.value("openapi", ""), "3.0.3");
  ASSERT_TRUE(doc.contains("info"));
  EXPECT_FALSE(doc["info"].value("title", "").empty());
  EXPECT_FALSE(doc["info"].value("version", "").empty());
  ASSERT_TRUE(doc.contains("paths"));
  ASSERT_TRUE(doc["paths"].is_object());
}

TEST(ApiOpenApiTest, EmbedsTheCommittedFileByteForByte) {
  const char* source = std::getenv("JOBSCHED_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "run through ctest (JOBSCHED_SOURCE_DIR)";
  std::ifstream in(std::string(source) + "/services/api/openapi.json", std::ios::binary);
  ASSERT_TRUE(in) << "cannot read services/api/openapi.json";
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(text.str() == OpenApiDocument())
      << "the compiled-in document differs from services/api/openapi.json: rebuild";
}

TEST(ApiOpenApiTest, DocumentsExactlyTheRoutesTheRouterServes) {
  ASSERT_FALSE(ApiRoutes().empty());
  for (const std::string& problem : RouteDifferences(Document(), ApiRoutes())) {
    ADD_FAILURE() << problem;
  }
}

TEST(ApiOpenApiTest, EveryPathParameterIsDeclaredAndRequired) {
  json doc = Document();
  for (const auto& [path, item] : doc["paths"].items()) {
    const std::vector<std::string> names = TemplateParams(path);
    for (const std::string& method : kMethods) {
      if (!item.contains(method)) continue;
      const json& op = item[method];
      // Operation-level parameters override path-level ones of the same name and place.
      std::map<std::string, json> declared;
      for (const json* owner : std::array<const json*, 2>{&item, &op}) {
        if (!owner->contains("parameters")) continue;
        for (const json& p : (*owner)["parameters"]) {
          const json& param = Deref(doc, p);
          if (param.value("in", "") == "path") declared[param.value("name", "")] = param;
        }
      }
      const std::string where = Upper(method) + " " + path;
      for (const std::string& name : names) {
        auto it = declared.find(name);
        if (it == declared.end()) {
          ADD_FAILURE() << where << ": {" << name << "} is not declared as a path parameter";
          continue;
        }
        EXPECT_TRUE(it->second.value("required", false))
            << where << ": path parameter " << name << " must be required";
      }
      for (const auto& [name, param] : declared) {
        EXPECT_TRUE(std::find(names.begin(), names.end(), name) != names.end())
            << where << ": declares path parameter " << name << " that the path lacks";
      }
    }
  }
}

TEST(ApiOpenApiTest, EveryReferenceResolves) {
  json doc = Document();
  std::vector<std::pair<std::string, std::string>> refs;
  CollectRefs(doc, "#", &refs);
  EXPECT_GT(refs.size(), 50u);  // the document leans on components: the walk must find them
  for (const std::string& problem : DanglingRefs(doc)) ADD_FAILURE() << problem;
}

TEST(ApiOpenApiTest, EveryOperationHasAUniqueIdAndAResponse) {
  json doc = Document();
  std::map<std::string, std::string> ids;  // operationId -> where
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const std::string& method : kMethods) {
      if (!item.contains(method)) continue;
      const json& op = item[method];
      const std::string where = Upper(method) + " " + path;
      const std::string id = op.value("operationId", "");
      EXPECT_FALSE(id.empty()) << where << " has no operationId";
      if (!id.empty()) {
        auto [it, inserted] = ids.emplace(id, where);
        EXPECT_TRUE(inserted) << where << " reuses operationId " << id << " of " << it->second;
      }
      ASSERT_TRUE(op.contains("responses")) << where << " has no responses";
      EXPECT_FALSE(op["responses"].empty()) << where << " has no responses";
    }
  }
}

// The checks above can fail: a route missing from either side, or a
// dangling reference, is reported.
TEST(ApiOpenApiTest, TheChecksCatchABrokenDocument) {
  json doc = Document();
  ASSERT_TRUE(doc["paths"]["/api/v1/jobs/{id}"].contains("patch"));
  doc["paths"]["/api/v1/jobs/{id}"].erase("patch");
  doc["paths"]["/api/v1/nowhere"] = {{"get", {{"operationId", "nowhere"}}}};
  std::vector<std::string> problems = RouteDifferences(doc, ApiRoutes());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("PATCH /api/v1/jobs/{id} is served but not"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("GET /api/v1/nowhere is documented but not"), std::string::npos)
      << problems[1];

  doc["paths"]["/api/v1/nowhere"]["get"]["responses"] = {
      {"200", {{"$ref", "#/components/responses/NoSuchResponse"}}}};
  std::vector<std::string> dangling = DanglingRefs(doc);
  ASSERT_EQ(dangling.size(), 1u);
  EXPECT_NE(dangling[0].find("NoSuchResponse"), std::string::npos) << dangling[0];
  EXPECT_NE(Resolve(doc, "#/paths/~1api~1v1~1jobs/get"), nullptr);
}

}  // namespace
}  // namespace jobsched::api
