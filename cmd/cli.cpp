#include "cmd/cli.hpp"

#include <CLI/CLI.hpp>

namespace fomo::cmd {

namespace {

// An option given with an empty value ('--require ""', '-m ""') is a usage error,
// never the same as the option left out.
const CLI::Validator kNotEmpty(
    [](std::string& value) { return value.empty() ? std::string("an empty value is not allowed") : std::string(); },
    "", "not empty");

}  // namespace

void CommandLine::Option(const std::string& names, std::string* value, const std::string& help,
                         const std::string& type_name, bool required) {
  CLI::Option* option = app_->add_option(names, *value, help);
  option->check(kNotEmpty);
  if (!type_name.empty()) option->type_name(type_name);
  if (required) option->required();
}

void CommandLine::Option(const std::string& names, int* value, const std::string& help,
                         const std::string& type_name) {
  app_->add_option(names, *value, help)->type_name(type_name);
}

void CommandLine::Option(const std::string& names, double* value, const std::string& help,
                         const std::string& type_name) {
  app_->add_option(names, *value, help)->type_name(type_name);
}

void CommandLine::Option(const std::string& names, std::vector<std::string>* values,
                         const std::string& help, const std::string& type_name, bool required) {
  CLI::Option* option = app_->add_option(names, *values, help);
  option->check(kNotEmpty);
  if (!type_name.empty()) option->type_name(type_name);
  if (required) option->required();
}

void CommandLine::Flag(const std::string& names, bool* value, const std::string& help) {
  app_->add_flag(names, *value, help);
}

}  // namespace fomo::cmd
