// A value, or the error that stopped it (as bpftrace's Result): errors as values at API edges, with
// the message its caller logs or answers once, instead of a bool and a `std::string* error`.
#ifndef PROFD_DAEMON_BASE_RESULT_H
#define PROFD_DAEMON_BASE_RESULT_H

#include <concepts>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace profd {

// What went wrong, in words for whoever reads the error (a user, a client, the log).
struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}              // NOLINT: a value is a result
  Result(Error error) : error_(std::move(error.message)) {}  // NOLINT: so is an error
  // (clang-format 14 cannot lay out requires-clauses.)
  // clang-format off
  // What converts to a value is one too (a std::unique_ptr<Derived> where T holds a Base).
  template <class U>
    requires(std::constructible_from<T, U &&> && !std::same_as<std::remove_cvref_t<U>, T> &&
             !std::same_as<std::remove_cvref_t<U>, Error> &&
             !std::same_as<std::remove_cvref_t<U>, Result>)
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT: as a value
  // The same for another Result (Result<std::unique_ptr<Derived>> to a Base's).
  template <class U>
    requires(!std::same_as<U, T> && std::constructible_from<T, U &&>)
  Result(Result<U>&& other) {  // NOLINT: as a value
    if (other.ok())
      value_.emplace(std::move(*other));
    else
      error_ = other.error();
  }
  // clang-format on

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

// A step that gives no value: ok, or the error that stopped it.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;                                                       // ok
  Result(Error error) : failed_(true), error_(std::move(error.message)) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return error_; }

 private:
  bool failed_ = false;
  std::string error_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_BASE_RESULT_H
