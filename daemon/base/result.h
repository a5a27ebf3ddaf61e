// A value, or the error that stopped it (as bpftrace's Result): errors as values at API edges, with
// the message its caller logs or answers once, instead of a bool and a `std::string* error`.
#ifndef PROFD_DAEMON_BASE_RESULT_H
#define PROFD_DAEMON_BASE_RESULT_H

#include <optional>
#include <string>
#include <utility>

namespace profd {

// What went wrong, in words for whoever reads the error (a user, a client, the log).
struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}           // NOLINT: a value is a result
  Result(Error error) : error_(std::move(error.message)) {}  // NOLINT: so is an error

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The value; only when ok().
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  // The error's message; "" when ok().
  const std::string& error() const { return error_; }

 private:
  std::optional<T> value_;
  std::string error_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_BASE_RESULT_H
