#pragma once

#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace olocal {

/// A sub-command's options: declared once with their defaults and help text,
/// filled from a JSON config file and then from command-line flags (flags win).
///
/// Flags: `--name value`, `--name=value`; booleans also as bare `--name`.
/// Underscores in names are accepted as dashes (as open-local's flags are).
/// The config file (`--config FILE`) is a JSON object whose keys are option
/// names, e.g. {"workers": 2, "log-level": "debug"}. Unknown names and values
/// of the wrong type are errors that name the option.
class option_set {
public:
  explicit option_set(std::string command) : command_(std::move(command)) {}

  void add(std::string name, std::string& target, std::string help);
  void add(std::string name, bool& target, std::string help);
  void add(std::string name, uint64_t& target, std::string help, uint64_t min = 0,
           uint64_t max = UINT64_MAX);
  void add(std::string name, std::chrono::milliseconds& target, std::string help);
  /// A string restricted to `choices`.
  void add_choice(std::string name, std::string& target, std::vector<std::string> choices,
                  std::string help);
  /// A repeatable string option: the first occurrence replaces the default
  /// list (what `target` holds when declared), later ones append.
  void add_list(std::string name, std::vector<std::string>& target, std::string help);

  /// Parses `args` (without the program and sub-command names). Positional
  /// arguments are returned through `positional`. Handles `--config` itself.
  /// Sets `help_requested()` on `-h`/`--help` and stops.
  caf::error parse(const std::vector<std::string>& args,
                   std::vector<std::string>* positional = nullptr);

  /// Applies a JSON object (the text of a config file). `origin` names the
  /// source in error messages.
  caf::error apply_json(std::string_view text, std::string_view origin);

  bool help_requested() const { return help_; }

  /// The help text: usage line and one line per option with its default.
  std::string usage(std::string_view summary) const;
  /// The sub-command these options belong to ("standalone").
  const std::string& command() const { return command_; }

private:
  struct spec {
    std::string name;
    std::string help;
    std::string default_text;
    std::string value_hint; // "" for booleans
    std::function<caf::error(std::string_view)> set;
  };

  spec* find(std::string_view name);
  void add_spec(spec s);

  std::string command_;
  std::vector<spec> specs_;
  std::string config_path_;
  bool help_ = false;
};

/// Parses "30s", "500ms", "2m", "1h" or a bare number of seconds.
caf::error parse_duration(std::string_view text, std::chrono::milliseconds& out);

} // namespace olocal
