#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

/// Structured logging: one line per event with a level, the name of the actor
/// or component that speaks, a message and key=value fields. Text for people,
/// JSON lines for collectors. Thread-safe; cheap when the level is filtered out.
namespace olocal::log {

enum class level : uint8_t { debug, info, warn, error };
enum class format : uint8_t { text, json };

std::string_view to_string(level lvl);
std::optional<level> level_from_string(std::string_view name);
std::optional<format> format_from_string(std::string_view name);

/// One key=value pair. Numbers and booleans are rendered without quotes in JSON.
struct field {
  std::string key;
  std::string value;
  bool quoted = true;

  field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  field(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
  field(std::string k, const char* v) : key(std::move(k)), value(v) {}
  field(std::string k, bool v) : key(std::move(k)), value(v ? "true" : "false"), quoted(false) {}
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>>>
  field(std::string k, T v) : key(std::move(k)), value(std::to_string(v)), quoted(false) {}
};

using fields = std::initializer_list<field>;

void set_level(level lvl);
level current_level();
void set_format(format fmt);

/// Replaces the output (default: stderr). Receives complete lines without '\n'.
/// Pass nullptr to restore stderr.
void set_sink(std::function<void(std::string_view)> sink);

bool enabled(level lvl);

/// Renders one line in the current format (exposed for tests).
std::string render(level lvl, std::string_view who, std::string_view msg, fields kv);

void write(level lvl, std::string_view who, std::string_view msg, fields kv = {});

inline void debug(std::string_view who, std::string_view msg, fields kv = {}) {
  if (enabled(level::debug))
    write(level::debug, who, msg, kv);
}
inline void info(std::string_view who, std::string_view msg, fields kv = {}) {
  if (enabled(level::info))
    write(level::info, who, msg, kv);
}
inline void warn(std::string_view who, std::string_view msg, fields kv = {}) {
  if (enabled(level::warn))
    write(level::warn, who, msg, kv);
}
inline void error(std::string_view who, std::string_view msg, fields kv = {}) {
  if (enabled(level::error))
    write(level::error, who, msg, kv);
}

} // namespace olocal::log
