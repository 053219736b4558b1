#pragma once
// The project's configuration keys, all in one place: one YAML file can describe a whole
// experiment, and every tool checks all of it (a typo in any section is caught by the first tool).
#include "config/config.hpp"

namespace cxr::config {

const Schema& project_schema();

}  // namespace cxr::config
