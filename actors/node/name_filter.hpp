#pragma once

#include <caf/expected.hpp>

#include <regex>
#include <string>
#include <vector>

namespace olocal {

/// open-local's listConfig selection (NodeLocalStorage spec.listConfig.{vgs,
/// devices,mountPoints}): a name is selected when some include expression
/// matches the whole name and no exclude expression does. An empty include
/// list selects nothing. Expressions are ECMAScript regular expressions.
class name_filter {
public:
  /// Compiles the expressions; a bad one is invalid_argument naming it.
  static caf::expected<name_filter> make(const std::vector<std::string>& include,
                                         const std::vector<std::string>& exclude);

  bool selects(const std::string& name) const;

  /// The selected names, in the order given.
  std::vector<std::string> select(const std::vector<std::string>& names) const;

private:
  std::vector<std::regex> include_;
  std::vector<std::regex> exclude_;
};

} // namespace olocal
