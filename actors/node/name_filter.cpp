#include "actors/node/name_filter.hpp"

#include "actors/core/errc.hpp"

#include <algorithm>
#include <tuple>

namespace olocal {

caf::expected<name_filter> name_filter::make(const std::vector<std::string>& include,
                                             const std::vector<std::string>& exclude) {
  name_filter result;
  for (auto [list, out, field] : {std::tuple{&include, &result.include_, "include"},
                                  std::tuple{&exclude, &result.exclude_, "exclude"}}) {
    for (auto& text : *list) {
      try {
        out->emplace_back(text, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return make_error(errc::invalid_argument, std::string{field} + ": '" + text +
                                                    "' is not a valid regular expression (" +
                                                    e.what() + ")");
      }
    }
  }
  return result;
}

bool name_filter::selects(const std::string& name) const {
  auto whole = [&name](const std::regex& re) { return std::regex_match(name, re); };
  return std::any_of(include_.begin(), include_.end(), whole) &&
         std::none_of(exclude_.begin(), exclude_.end(), whole);
}

std::vector<std::string> name_filter::select(const std::vector<std::string>& names) const {
  std::vector<std::string> result;
  for (auto& n : names)
    if (selects(n))
      result.push_back(n);
  return result;
}

} // namespace olocal
