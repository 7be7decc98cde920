#include "services/api/openapi.h"

namespace jobsched::api {

// Generated at build time from openapi.json (embed_text.cmake).
extern const char kOpenApiJson[];

const std::string& OpenApiDocument() {
  static const std::string kDocument(kOpenApiJson);
  return kDocument;
}

}  // namespace jobsched::api
