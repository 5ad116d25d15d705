#include "actors/core/log.hpp"

#include "actors/core/json.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace olocal::log {

namespace {

std::atomic<level> min_level{level::info};
std::atomic<format> out_format{format::text};
std::mutex sink_mutex;
std::function<void(std::string_view)> custom_sink;

// Text values with spaces, quotes or '=' are quoted so that lines stay parseable.
void append_text_value(std::string& out, std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\')
      plain = false;
  if (plain)
    out += value;
  else
    append_json_quoted(out, value);
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

} // namespace

std::string_view to_string(level lvl) {
  switch (lvl) {
  case level::debug:
    return "debug";
  case level::info:
    return "info";
  case level::warn:
    return "warn";
  case level::error:
    return "error";
  }
  return "info";
}

std::optional<level> level_from_string(std::string_view name) {
  for (auto lvl : {level::debug, level::info, level::warn, level::error})
    if (to_string(lvl) == name)
      return lvl;
  if (name == "warning")
    return level::warn;
  return std::nullopt;
}

std::optional<format> format_from_string(std::string_view name) {
  if (name == "text")
    return format::text;
  if (name == "json")
    return format::json;
  return std::nullopt;
}

void set_level(level lvl) {
  min_level = lvl;
}

level current_level() {
  return min_level;
}

void set_format(format fmt) {
  out_format = fmt;
}

void set_sink(std::function<void(std::string_view)> sink) {
  std::lock_guard<std::mutex> guard{sink_mutex};
  custom_sink = std::move(sink);
}

bool enabled(level lvl) {
  return lvl >= min_level.load(std::memory_order_relaxed);
}

std::string render(level lvl, std::string_view who, std::string_view msg, fields kv) {
  std::string line;
  line.reserve(96 + msg.size());
  if (out_format == format::json) {
    line += "{\"ts\":";
    append_json_quoted(line, timestamp());
    line += ",\"level\":";
    append_json_quoted(line, to_string(lvl));
    line += ",\"actor\":";
    append_json_quoted(line, who);
    line += ",\"msg\":";
    append_json_quoted(line, msg);
    for (auto& f : kv) {
      line += ',';
      append_json_quoted(line, f.key);
      line += ':';
      if (f.quoted)
        append_json_quoted(line, f.value);
      else
        line += f.value;
    }
    line += '}';
    return line;
  }
  line += timestamp();
  line += ' ';
  auto name = to_string(lvl);
  for (char c : name)
    line += static_cast<char>(c - 'a' + 'A');
  line.append(6 - name.size(), ' ');
  line += '[';
  line += who;
  line += "] ";
  line += msg;
  for (auto& f : kv) {
    line += ' ';
    line += f.key;
    line += '=';
    append_text_value(line, f.value);
  }
  return line;
}

void write(level lvl, std::string_view who, std::string_view msg, fields kv) {
  if (!enabled(lvl))
    return;
  auto line = render(lvl, who, msg, kv);
  std::lock_guard<std::mutex> guard{sink_mutex};
  if (custom_sink) {
    custom_sink(line);
    return;
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace olocal::log
