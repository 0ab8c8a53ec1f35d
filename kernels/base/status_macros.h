// The two error-propagation macros of the project (Abseil 20220623 has none of its own).
//
//   HOBBIT_RETURN_IF_ERROR(DoThing());           // returns the status if it is not OK
//   HOBBIT_ASSIGN_OR_RETURN(auto v, MakeThing());  // unwraps a StatusOr or returns its status
//
// These are the only macros of this kind in hobbit; do not add GOTO/FAIL/THROW variants.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HOBBIT_STATUS_CONCAT_INNER_(a, b) a##b
#define HOBBIT_STATUS_CONCAT_(a, b) HOBBIT_STATUS_CONCAT_INNER_(a, b)

#define HOBBIT_RETURN_IF_ERROR(expr)                    \
  do {                                                  \
    ::absl::Status hobbit_status_ = (expr);             \
    if (!hobbit_status_.ok()) return hobbit_status_;    \
  } while (0)

#define HOBBIT_ASSIGN_OR_RETURN(lhs, expr) \
  HOBBIT_ASSIGN_OR_RETURN_IMPL_(HOBBIT_STATUS_CONCAT_(hobbit_statusor_, __LINE__), lhs, expr)

#define HOBBIT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
