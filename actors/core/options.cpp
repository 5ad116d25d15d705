#include "actors/core/options.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/quantity.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <fstream>
#include <memory>
#include <sstream>

namespace olocal {

namespace {

std::string normalize(std::string_view name) {
  std::string result{name};
  for (auto& c : result)
    if (c == '_')
      c = '-';
  return result;
}

caf::error bad_value(std::string_view name, std::string_view value, std::string_view expected) {
  return make_error(errc::config_invalid, "option --" + std::string{name} + ": invalid value '" +
                                            std::string{value} + "', expected " +
                                            std::string{expected});
}

} // namespace

caf::error parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  uint64_t number = 0;
  if (!parse_u64(text.substr(0, digits), number))
    return make_error(errc::config_invalid, "invalid duration '" + std::string{text} +
                                              "' (examples: 500ms, 30s, 2m, 1h)");
  auto unit = text.substr(digits);
  uint64_t factor = 0;
  if (unit.empty() || unit == "s")
    factor = 1000;
  else if (unit == "ms")
    factor = 1;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  if (factor == 0 || number > UINT64_MAX / factor / 2)
    return make_error(errc::config_invalid, "invalid duration '" + std::string{text} +
                                              "' (examples: 500ms, 30s, 2m, 1h)");
  out = std::chrono::milliseconds{static_cast<int64_t>(number * factor)};
  return {};
}

void option_set::add_spec(spec s) {
  specs_.push_back(std::move(s));
}

option_set::spec* option_set::find(std::string_view name) {
  auto wanted = normalize(name);
  for (auto& s : specs_)
    if (s.name == wanted)
      return &s;
  return nullptr;
}

void option_set::add(std::string name, std::string& target, std::string help) {
  add_spec({name, std::move(help), target.empty() ? "\"\"" : target, "TEXT",
            [&target](std::string_view v) -> caf::error {
              target = std::string{v};
              return {};
            }});
}

void option_set::add(std::string name, bool& target, std::string help) {
  add_spec({name, std::move(help), target ? "true" : "false", "",
            [&target, name](std::string_view v) -> caf::error {
              if (v == "true" || v == "1" || v == "yes")
                target = true;
              else if (v == "false" || v == "0" || v == "no")
                target = false;
              else
                return bad_value(name, v, "true or false");
              return {};
            }});
}

void option_set::add(std::string name, uint64_t& target, std::string help, uint64_t min,
                     uint64_t max) {
  add_spec({name, std::move(help), std::to_string(target), "N",
            [&target, name, min, max](std::string_view v) -> caf::error {
              uint64_t number = 0;
              if (!parse_u64(v, number))
                return bad_value(name, v, "a whole number");
              if (number < min || number > max)
                return bad_value(name, v,
                                 "a number from " + std::to_string(min) + " to " +
                                   (max == UINT64_MAX ? std::string{"any"} : std::to_string(max)));
              target = number;
              return {};
            }});
}

void option_set::add(std::string name, std::chrono::milliseconds& target, std::string help) {
  add_spec({name, std::move(help), std::to_string(target.count()) + "ms", "DURATION",
            [&target, name](std::string_view v) -> caf::error {
              std::chrono::milliseconds parsed{};
              if (parse_duration(v, parsed))
                return bad_value(name, v, "a duration such as 500ms, 30s, 2m or 1h");
              target = parsed;
              return {};
            }});
}

void option_set::add_choice(std::string name, std::string& target, std::vector<std::string> choices,
                            std::string help) {
  std::string hint;
  for (auto& c : choices)
    hint += (hint.empty() ? "" : "|") + c;
  add_spec({name, std::move(help), target, hint,
            [&target, name, choices, hint](std::string_view v) -> caf::error {
              for (auto& c : choices)
                if (c == v) {
                  target = c;
                  return {};
                }
              return bad_value(name, v, "one of " + hint);
            }});
}

void option_set::add_list(std::string name, std::vector<std::string>& target, std::string help) {
  // The first occurrence replaces the default list, later ones append.
  std::string shown;
  for (auto& v : target)
    shown += (shown.empty() ? "" : ",") + v;
  auto seen = std::make_shared<bool>(false);
  add_spec({name, std::move(help), shown.empty() ? "none" : shown, "TEXT",
            [&target, seen](std::string_view v) -> caf::error {
              if (!*seen)
                target.clear();
              *seen = true;
              target.emplace_back(v);
              return {};
            }});
}

caf::error option_set::apply_json(std::string_view text, std::string_view origin) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec)
    return make_error(errc::parse_error, std::string{origin} + ": not valid JSON: " + ec.message());
  if (!doc.is_object())
    return make_error(errc::config_invalid,
                      std::string{origin} + ": must be a JSON object of option names to values");
  for (auto& [key, value] : doc.as_object()) {
    auto s = find(key);
    if (!s || s->name == "config")
      return make_error(errc::config_invalid,
                        std::string{origin} + ": unknown option '" + std::string{key} + "'");
    auto apply = [&](std::string_view v) -> caf::error {
      if (auto err = s->set(v))
        return make_error(errc::config_invalid, std::string{origin} + ": " + message_of(err));
      return {};
    };
    caf::error err;
    if (value.is_string())
      err = apply(value.as_string());
    else if (value.is_bool())
      err = apply(value.as_bool() ? "true" : "false");
    else if (value.is_uint64())
      err = apply(std::to_string(value.as_uint64()));
    else if (value.is_int64())
      err = apply(std::to_string(value.as_int64()));
    else if (value.is_array() && s->value_hint == "TEXT") {
      for (auto& item : value.as_array()) {
        if (!item.is_string())
          return make_error(errc::config_invalid, std::string{origin} + ": option '" + s->name +
                                                    "' takes a list of strings");
        if ((err = apply(item.as_string())))
          return err;
      }
    } else
      return make_error(errc::config_invalid, std::string{origin} + ": option '" + s->name +
                                                "' has a value of the wrong type");
    if (err)
      return err;
  }
  return {};
}

caf::error option_set::parse(const std::vector<std::string>& args,
                             std::vector<std::string>* positional) {
  // Split into (name, value) pairs first, so that the config file can be
  // applied before any flag and flags win regardless of their position.
  struct pair {
    spec* target;
    std::string value;
  };
  std::vector<pair> pairs;
  std::string config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      return {};
    }
    if (arg == "--") {
      for (++i; i < args.size(); ++i) {
        if (!positional)
          return make_error(errc::invalid_argument,
                            command_ + ": unexpected argument '" + args[i] + "'");
        positional->push_back(args[i]);
      }
      break;
    }
    if (arg.substr(0, 2) != "--") {
      if (!positional)
        return make_error(errc::invalid_argument,
                          command_ + ": unexpected argument '" + std::string{arg} + "'");
      positional->emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    std::string name;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = normalize(arg.substr(0, eq));
      value = std::string{arg.substr(eq + 1)};
    } else {
      name = normalize(arg);
    }
    if (name == "config") {
      if (!value) {
        if (i + 1 >= args.size())
          return make_error(errc::invalid_argument, "option --config needs a file name");
        value = args[++i];
      }
      config = *value;
      continue;
    }
    auto s = find(name);
    if (!s)
      return make_error(errc::invalid_argument,
                        command_ + ": unknown option --" + name + " (see --help)");
    if (!value) {
      if (s->value_hint.empty())
        value = "true";
      else if (i + 1 < args.size())
        value = args[++i];
      else
        return make_error(errc::invalid_argument, "option --" + name + " needs a value");
    }
    pairs.push_back({s, std::move(*value)});
  }
  if (!config.empty()) {
    std::ifstream in{config};
    if (!in)
      return make_error(errc::config_invalid, "cannot read config file " + config);
    std::stringstream text;
    text << in.rdbuf();
    if (auto err = apply_json(text.str(), config))
      return err;
    config_path_ = config;
  }
  for (auto& p : pairs)
    if (auto err = p.target->set(p.value))
      return err;
  return {};
}

std::string option_set::usage(std::string_view summary) const {
  std::string out = "Usage: open-local " + command_ + " [options]\n\n";
  out += summary;
  out += "\n\nOptions:\n";
  auto line = [&out](std::string left, const std::string& help, const std::string& def) {
    if (left.size() < 30)
      left.append(30 - left.size(), ' ');
    else
      left += "\n" + std::string(30, ' ');
    out += "  " + left + help;
    if (!def.empty())
      out += " (default: " + def + ")";
    out += '\n';
  };
  line("--config FILE", "JSON file of option values; flags override it", "");
  for (auto& s : specs_)
    line("--" + s.name + (s.value_hint.empty() ? "" : " " + s.value_hint), s.help, s.default_text);
  line("-h, --help", "show this help", "");
  return out;
}

} // namespace olocal
