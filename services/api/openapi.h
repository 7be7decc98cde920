// The OpenAPI 3.0.3 document of the REST API (services/api/openapi.json),
// compiled into the binary so GET /api/v1/openapi.json serves exactly the
// committed file, byte for byte. The document is written by hand from the
// code; tests/unit/api_openapi_test.cc checks it against ApiRoutes()
// (routes.h), so a route cannot be added or removed without it.
#pragma once

#include <string>

namespace jobsched::api {

// The document's text (JSON). Built once; thread-safe; lives as long as the
// program.
const std::string& OpenApiDocument();

}  // namespace jobsched::api
