// Text from files and users (tensor names, paths, commit messages) on its way to a
// terminal: control characters are escaped the way git quotes paths, so a name
// with a newline cannot split an error over two lines, a NUL cannot cut it, and an
// ANSI escape in a commit message cannot drive the terminal. JSON output keeps the
// exact text.
#pragma once

#include <string>
#include <string_view>

namespace fomo {

// \n \t \r \0 as C does, other C0 controls, DEL and bytes of invalid UTF-8 as
// \xNN, C1 controls (U+0080 to U+009F, which some terminals obey) as \u00NN.
// Printable text, UTF-8 and backslashes included, is left as it is, so escaping
// twice changes nothing: an error message is escaped when it is made (a NUL would
// end what() early) and wrapping it in another message keeps it as it was.
std::string Printable(std::string_view text);

}  // namespace fomo
