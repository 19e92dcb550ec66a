// Internal errors: thrown inside the library, turned into a hearth_status at the C boundary (api.cpp).
#pragma once
#include <stdexcept>
#include <string>

#include "hearth.h"

namespace hearth {

class error : public std::runtime_error {
 public:
  error(hearth_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
  hearth_status status() const noexcept { return status_; }

 private:
  hearth_status status_;
};

[[noreturn]] inline void fail(hearth_status status, const std::string &message) { throw error(status, message); }

}  // namespace hearth
