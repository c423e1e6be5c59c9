// -v: what a command does, as it does it, on stderr ("fomo: [0.12 s] ..."): the
// repository it opened, how long it waited for and held the write lock, what a
// commit wrote and reused, what an evaluation read from the database or measured.
#pragma once

#include <string>

namespace fomo {

void SetTrace(bool on);
bool TraceOn();
// Prints the line when tracing is on, with the seconds since the process began.
void Trace(const std::string& line);

}  // namespace fomo
