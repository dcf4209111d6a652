using System.Globalization;
using System.Text;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>
/// Parses the <c>builtin</c> language (docs/builtin-udfs.md): statements separated by newlines or
/// <c>;</c>, <c>#</c> comments, keywords in any case. Errors are <see cref="BuiltinException"/>s
/// whose message starts with the line and column.
/// </summary>
internal static class BuiltinParser
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(10);

    public static BuiltinProgram Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new Lexer(text).Tokenize();
        var lines = text.Split('\n');
        var statements = new List<Statement>();
        var cursor = new Cursor(tokens);
        while (true)
        {
            while (cursor.Peek.Kind == TokenKind.Separator)
            {
                cursor.Next();
            }

            if (cursor.Peek.Kind == TokenKind.End)
            {
                break;
            }

            var start = cursor.Peek;
            var source = lines[start.Position.Line - 1].TrimEnd('\r').Trim();
            var statement = ParseStatement(cursor, source);
            if (cursor.Peek.Kind is not (TokenKind.Separator or TokenKind.End))
            {
                throw new BuiltinException(cursor.Peek.Position, $"expected the end of the statement, found {cursor.Peek.Describe()}");
            }

            CheckOrder(statement, statements);
            statements.Add(statement);
        }

        if (statements.Count == 0)
        {
            throw new BuiltinException(new SourcePosition(1, 1), "the program is empty; write at least one statement, for example: filter x > 10");
        }

        return new BuiltinProgram(statements);
    }

    private static void CheckOrder(Statement statement, List<Statement> before)
    {
        if (statement is GenerateStatement && before.Count > 0)
        {
            throw new BuiltinException(statement.Position, "'generate' must be the first statement: it is where the rows come from");
        }

        if (before.Count > 0 && before[^1] is AggregateStatement aggregate)
        {
            throw new BuiltinException(statement.Position, $"nothing may follow 'aggregate' ({aggregate.Position}): it answers once, at Finish");
        }
    }

    private static Statement ParseStatement(Cursor cursor, string source)
    {
        var keyword = cursor.Next();
        if (keyword.Kind != TokenKind.Word || keyword.Quoted)
        {
            throw new BuiltinException(keyword.Position, $"expected a statement (generate, select, add, upper, filter, raise, delay, aggregate), found {keyword.Describe()}");
        }

        var at = keyword.Position;
        switch (keyword.Text.ToLowerInvariant())
        {
            case "generate":
                var rows = ExpectInteger(cursor, "the number of rows after 'generate'", min: 0);
                var batchSize = 1000L;
                if (cursor.TryKeyword("batch"))
                {
                    batchSize = ExpectInteger(cursor, "the batch size after 'batch'", min: 1, max: int.MaxValue);
                }

                return new GenerateStatement(at, source, rows, (int)batchSize);

            case "select":
                var columns = new List<ColumnRef> { ExpectColumn(cursor, "a column name after 'select'") };
                while (cursor.TrySymbol(","))
                {
                    columns.Add(ExpectColumn(cursor, "a column name after ','"));
                }

                return new SelectStatement(at, source, columns);

            case "add":
                var column = ExpectColumn(cursor, "a column name after 'add'");
                var constant = ExpectLiteral(cursor, $"a number after 'add {column.Name}'");
                if (!constant.IsNumber)
                {
                    throw new BuiltinException(constant.Position, $"expected a number after 'add {column.Name}', found {constant.Text}");
                }

                return new AddStatement(at, source, column, constant);

            case "upper":
                return new UpperStatement(at, source, ExpectColumn(cursor, "a column name after 'upper'"));

            case "filter":
                return new FilterStatement(at, source, ExpectCondition(cursor, "filter"));

            case "raise":
                var errorClass = cursor.Next();
                if (errorClass.Kind != TokenKind.Word || errorClass.Quoted)
                {
                    throw new BuiltinException(errorClass.Position, $"expected an error class after 'raise' (for example ValueError), found {errorClass.Describe()}");
                }

                var message = cursor.Next();
                if (message.Kind != TokenKind.String)
                {
                    throw new BuiltinException(message.Position, $"expected a quoted message after 'raise {errorClass.Text}', found {message.Describe()}");
                }

                var when = cursor.TryKeyword("when") ? ExpectCondition(cursor, "when") : null;
                return new RaiseStatement(at, source, errorClass.Text, message.Text, when);

            case "delay":
                return new DelayStatement(at, source, ExpectDuration(cursor));

            case "aggregate":
                var aggregates = new List<Aggregate> { ExpectAggregate(cursor) };
                while (cursor.TrySymbol(","))
                {
                    aggregates.Add(ExpectAggregate(cursor));
                }

                var duplicate = aggregates.GroupBy(a => a.OutputName, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
                if (duplicate is not null)
                {
                    throw new BuiltinException(duplicate.Skip(1).First().Position, $"'{duplicate.Key}' is computed twice");
                }

                return new AggregateStatement(at, source, aggregates);

            default:
                throw new BuiltinException(at, $"unknown statement '{keyword.Text}'; the statements are generate, select, add, upper, filter, raise, delay, aggregate");
        }
    }

    private static long ExpectInteger(Cursor cursor, string what, long min, long max = long.MaxValue)
    {
        var token = cursor.Next();
        if (token.Kind != TokenKind.Number || token.Suffix is not null || !long.TryParse(token.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            throw new BuiltinException(token.Position, $"expected {what} (a whole number), found {token.Describe()}");
        }

        if (value < min || value > max)
        {
            throw new BuiltinException(token.Position, string.Create(CultureInfo.InvariantCulture, $"{what} must be between {min} and {max}, found {value}"));
        }

        return value;
    }

    private static ColumnRef ExpectColumn(Cursor cursor, string what)
    {
        var token = cursor.Next();
        if (token.Kind != TokenKind.Word)
        {
            throw new BuiltinException(token.Position, $"expected {what}, found {token.Describe()}");
        }

        return new ColumnRef(token.Text, token.Position);
    }

    private static Literal ExpectLiteral(Cursor cursor, string what)
    {
        var token = cursor.Next();
        switch (token.Kind)
        {
            case TokenKind.String:
                return new Literal(LiteralKind.String, 0, 0, token.Text, false, Quote(token.Text), token.Position);
            case TokenKind.Number when token.Suffix is null:
                if (long.TryParse(token.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    return new Literal(LiteralKind.Integer, integer, integer, null, false, token.Text, token.Position);
                }

                if (double.TryParse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
                {
                    return new Literal(LiteralKind.Float, 0, number, null, false, token.Text, token.Position);
                }

                break;
            case TokenKind.Word when !token.Quoted && (token.Is("true") || token.Is("false")):
                return new Literal(LiteralKind.Boolean, 0, 0, null, token.Is("true"), token.Text.ToLowerInvariant(), token.Position);
        }

        throw new BuiltinException(token.Position, $"expected {what}, found {token.Describe()}");
    }

    private static Condition ExpectCondition(Cursor cursor, string after)
    {
        var column = ExpectColumn(cursor, $"a column name after '{after}'");
        var op = cursor.Next();
        Comparison? comparison = op.Kind != TokenKind.Symbol ? null : op.Text switch
        {
            "==" => Comparison.Equal,
            "!=" => Comparison.NotEqual,
            "<" => Comparison.Less,
            "<=" => Comparison.LessOrEqual,
            ">" => Comparison.Greater,
            ">=" => Comparison.GreaterOrEqual,
            _ => null,
        };
        if (comparison is null)
        {
            var hint = op.Kind == TokenKind.Symbol && op.Text == "=" ? " (use == to compare)" : "";
            throw new BuiltinException(op.Position, $"expected a comparison (==, !=, <, <=, >, >=) after '{after} {column.Name}', found {op.Describe()}{hint}");
        }

        var value = ExpectLiteral(cursor, $"a value after '{after} {column.Name} {op.Text}' (a number, a quoted string, true or false)");
        return new Condition(column, comparison.Value, op.Text, value);
    }

    private static TimeSpan ExpectDuration(Cursor cursor)
    {
        var token = cursor.Next();
        var unit = token.Suffix;
        if (token.Kind == TokenKind.Number && unit is null && cursor.Peek is { Kind: TokenKind.Word, Quoted: false } next && IsUnit(next.Text))
        {
            unit = cursor.Next().Text;
        }

        if (token.Kind != TokenKind.Number || unit is null || !IsUnit(unit)
            || !double.TryParse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount < 0 || !double.IsFinite(amount))
        {
            throw new BuiltinException(token.Position, $"expected a duration after 'delay' (for example 5ms, 250us or 1.5s), found {token.Describe()}");
        }

        var delay = unit.ToLowerInvariant() switch
        {
            "us" => TimeSpan.FromTicks((long)(amount * 10)),
            "ms" => TimeSpan.FromMilliseconds(amount),
            _ => TimeSpan.FromSeconds(amount),
        };
        if (delay > MaxDelay)
        {
            throw new BuiltinException(token.Position, $"a delay may be at most {MaxDelay.TotalMinutes} minutes, found {token.Text}{unit}");
        }

        return delay;
    }

    private static bool IsUnit(string text) => text.ToLowerInvariant() is "us" or "ms" or "s";

    private static Aggregate ExpectAggregate(Cursor cursor)
    {
        var token = cursor.Next();
        if (token.Kind == TokenKind.Word && !token.Quoted)
        {
            switch (token.Text.ToLowerInvariant())
            {
                case "count":
                    return new Aggregate(AggregateKind.Count, null, token.Position);
                case "sum":
                    return new Aggregate(AggregateKind.Sum, ExpectColumn(cursor, "a column name after 'sum'"), token.Position);
                case "min":
                    return new Aggregate(AggregateKind.Min, ExpectColumn(cursor, "a column name after 'min'"), token.Position);
                case "max":
                    return new Aggregate(AggregateKind.Max, ExpectColumn(cursor, "a column name after 'max'"), token.Position);
            }
        }

        throw new BuiltinException(token.Position, $"expected an aggregate (count, sum <column>, min <column>, max <column>), found {token.Describe()}");
    }

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private enum TokenKind
    {
        Word,
        Number,
        String,
        Symbol,
        Separator,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, SourcePosition Position, string? Suffix = null, bool Quoted = false)
    {
        public bool Is(string keyword) => Kind == TokenKind.Word && !Quoted && string.Equals(Text, keyword, StringComparison.OrdinalIgnoreCase);

        public string Describe() => Kind switch
        {
            TokenKind.End => "the end of the program",
            TokenKind.Separator => Text == ";" ? "';'" : "the end of the line",
            TokenKind.String => $"the string {Quote(Text)}",
            TokenKind.Word when Quoted => $"`{Text}`",
            _ => $"'{Text}{Suffix}'",
        };
    }

    private sealed class Cursor(List<Token> tokens)
    {
        private int _index;

        public Token Peek => tokens[_index];

        public Token Next()
        {
            var token = tokens[_index];
            if (token.Kind != TokenKind.End)
            {
                _index++;
            }

            return token;
        }

        public bool TryKeyword(string keyword)
        {
            if (Peek.Is(keyword))
            {
                _index++;
                return true;
            }

            return false;
        }

        public bool TrySymbol(string symbol)
        {
            if (Peek.Kind == TokenKind.Symbol && Peek.Text == symbol)
            {
                _index++;
                return true;
            }

            return false;
        }
    }

    private sealed class Lexer(string text)
    {
        private int _index;
        private int _line = 1;
        private int _lineStart;

        private SourcePosition Here => new(_line, _index - _lineStart + 1);

        public List<Token> Tokenize()
        {
            var tokens = new List<Token>();
            while (_index < text.Length)
            {
                var c = text[_index];
                var at = Here;
                if (c == '\n')
                {
                    tokens.Add(new Token(TokenKind.Separator, "\n", at));
                    _index++;
                    _line++;
                    _lineStart = _index;
                }
                else if (c == ';')
                {
                    tokens.Add(new Token(TokenKind.Separator, ";", at));
                    _index++;
                }
                else if (char.IsWhiteSpace(c))
                {
                    _index++;
                }
                else if (c == '#')
                {
                    while (_index < text.Length && text[_index] != '\n')
                    {
                        _index++;
                    }
                }
                else if (char.IsAsciiLetter(c) || c == '_')
                {
                    var start = _index;
                    while (_index < text.Length && (char.IsAsciiLetterOrDigit(text[_index]) || text[_index] == '_'))
                    {
                        _index++;
                    }

                    tokens.Add(new Token(TokenKind.Word, text[start.._index], at));
                }
                else if (c == '`')
                {
                    tokens.Add(new Token(TokenKind.Word, ReadQuoted('`', at, "column name"), at, Quoted: true));
                }
                else if (c == '"')
                {
                    tokens.Add(new Token(TokenKind.String, ReadQuoted('"', at, "string"), at));
                }
                else if (char.IsAsciiDigit(c) || (c is '-' or '.' && _index + 1 < text.Length && (char.IsAsciiDigit(text[_index + 1]) || text[_index + 1] == '.')))
                {
                    tokens.Add(ReadNumber(at));
                }
                else if (c is '<' or '>' or '=' or '!')
                {
                    var two = _index + 1 < text.Length && text[_index + 1] == '=';
                    var symbol = two ? text.Substring(_index, 2) : c.ToString();
                    if (symbol == "!")
                    {
                        throw new BuiltinException(at, "unexpected '!'; did you mean '!='?");
                    }

                    tokens.Add(new Token(TokenKind.Symbol, symbol, at));
                    _index += symbol.Length;
                }
                else if (c == ',')
                {
                    tokens.Add(new Token(TokenKind.Symbol, ",", at));
                    _index++;
                }
                else
                {
                    throw new BuiltinException(at, $"unexpected character '{c}'");
                }
            }

            tokens.Add(new Token(TokenKind.End, "", Here));
            return tokens;
        }

        private string ReadQuoted(char quote, SourcePosition at, string what)
        {
            var value = new StringBuilder();
            _index++;
            while (true)
            {
                if (_index >= text.Length || text[_index] == '\n')
                {
                    throw new BuiltinException(at, $"this {what} has no closing {quote}");
                }

                var c = text[_index++];
                if (c == quote)
                {
                    return value.ToString();
                }

                if (c == '\\' && _index < text.Length)
                {
                    var escaped = text[_index++];
                    value.Append(escaped switch
                    {
                        'n' => '\n',
                        't' => '\t',
                        _ => escaped,
                    });
                    continue;
                }

                value.Append(c);
            }
        }

        private Token ReadNumber(SourcePosition at)
        {
            var number = new StringBuilder();
            if (text[_index] == '-')
            {
                number.Append('-');
                _index++;
            }

            while (_index < text.Length)
            {
                var c = text[_index];
                var exponentSign = c is '+' or '-' && number.Length > 0 && number[^1] is 'e' or 'E';
                if (char.IsAsciiDigit(c) || c == '.' || exponentSign || (c is 'e' or 'E' && _index + 1 < text.Length && (char.IsAsciiDigit(text[_index + 1]) || text[_index + 1] is '+' or '-')))
                {
                    number.Append(c);
                }
                else if (c != '_')
                {
                    break;
                }

                _index++;
            }

            var suffixStart = _index;
            while (_index < text.Length && char.IsAsciiLetter(text[_index]))
            {
                _index++;
            }

            var suffix = _index > suffixStart ? text[suffixStart.._index] : null;
            return new Token(TokenKind.Number, number.ToString(), at, suffix);
        }
    }
}
