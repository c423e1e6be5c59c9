// What an update tells the person or script running it. The update pipeline
// (train/update.hpp) says what happens through this interface and never prints
// itself: the command layer draws it on a terminal or as plain lines
// (cmd/terminal_reporter.cpp), and a caller running many updates (a stream, the
// ranks of a distributed run) can label, merge or silence it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/evaluation.hpp"
#include "storage/versions.hpp"

namespace fomo::train {

// A counter of work done: a meter on a terminal, lines when piped, nothing when quiet.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void Update(uint64_t done, uint64_t total, const std::string& detail = "") = 0;
  virtual void Finish() = 0;
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  // A result for people (stdout): not shown when quiet or for --json.
  virtual void Result(const std::string& line) = 0;
  // A verdict people and logs must see (stdout), even when quiet: not for --json.
  virtual void Verdict(const std::string& line) = 0;
  // What is about to happen (stderr): not shown when quiet or for --json.
  virtual void Info(const std::string& line) = 0;
  // "note: ..." (stderr): not shown when quiet.
  virtual void Note(const std::string& line) = 0;
  // "fomo: ..." (stderr): always shown; the exit code says the rest.
  virtual void Warning(const std::string& line) = 0;
  // A version was committed on branch (empty: none): the line init, commit, every
  // update and merge print, with details (steps, samples, time).
  virtual void Committed(const StoredVersion& version, const std::string& branch, const std::string& details) = 0;
  // unit: "" counts bytes; otherwise items of that name ("steps", "images").
  virtual std::unique_ptr<Progress> StartProgress(const std::string& label, const std::string& unit) = 0;
  // Progress and notes of an evaluation, valid while the returned object lives.
  class Evaluation {
   public:
    virtual ~Evaluation() = default;
    virtual const core::EvalCallbacks& callbacks() const = 0;
    virtual void Finish() = 0;
  };
  virtual std::unique_ptr<Evaluation> StartEvaluation() = 0;
  // Waiting messages for the repository's write lock are suppressed when quiet.
  virtual bool quiet() const = 0;
};

}  // namespace fomo::train
