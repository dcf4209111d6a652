using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Client.Load;

/// <summary>
/// A pass/fail condition on a result, for CI gates: <c>session.p99 &lt; 50ms</c>,
/// <c>errors &lt; 0.1%</c>, <c>rate &gt;= 100/s</c>.
/// </summary>
/// <remarks>
/// <para>Grammar: <c>metric op value</c>, spaces optional.</para>
/// <list type="bullet">
/// <item><c>op</c>: <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c>.</item>
/// <item><c>&lt;phase&gt;.&lt;stat&gt;</c>, a phase of <see cref="LoadPhases"/> and a statistic
/// <c>p50</c>, <c>p90</c>, <c>p95</c>, <c>p99</c>, <c>p999</c>, <c>max</c>, <c>mean</c>: the value is a
/// duration with its unit, <c>us</c>, <c>ms</c> or <c>s</c> (<c>50ms</c>, <c>1.5s</c>). A phase with
/// no sample fails the threshold.</item>
/// <item><c>errors</c>: failed sessions, as a count (<c>errors &lt; 5</c>) or a percentage of the
/// measured sessions that ended (<c>errors &lt; 0.1%</c>).</item>
/// <item><c>notStarted</c>, <c>behindSchedule</c>, <c>abandoned</c>: a count, or a percentage of
/// the measured due starts (started plus not started), the base the generator's warning uses too.</item>
/// <item><c>rate</c>: finished sessions per second over the measured time, <c>rate &gt;= 100/s</c>
/// (the <c>/s</c> is optional).</item>
/// </list>
/// </remarks>
public sealed partial class LoadThreshold
{
    private static readonly string[] Stats = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

    private LoadThreshold(string expression, string metric, string? stat, string op, double value, bool percent)
    {
        Expression = expression;
        Metric = metric;
        Stat = stat;
        Operator = op;
        Value = value;
        Percent = percent;
    }

    /// <summary>The expression as given (trimmed).</summary>
    public string Expression { get; }

    private string Metric { get; }

    private string? Stat { get; }

    private string Operator { get; }

    /// <summary>The bound: milliseconds for latencies, a count, a percentage, or sessions per second.</summary>
    private double Value { get; }

    private bool Percent { get; }

    /// <summary>Parses an expression.</summary>
    /// <param name="expression">The expression, for example <c>session.p99 &lt; 50ms</c>.</param>
    /// <exception cref="FormatException">The expression is malformed; the message names what was wrong and the expected form.</exception>
    public static LoadThreshold Parse(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var text = expression.Trim();
        var match = Shape().Match(text);
        if (!match.Success)
        {
            throw new FormatException($"threshold '{text}' is not 'metric op value' (for example 'session.p99 < 50ms' or 'errors < 0.1%'); op is <, <=, > or >=.");
        }

        var metric = match.Groups["metric"].Value;
        var op = match.Groups["op"].Value;
        var number = match.Groups["number"].Value;
        var unit = match.Groups["unit"].Value;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsInfinity(value))
        {
            throw new FormatException($"threshold '{text}': '{number}' is not a number of zero or more.");
        }

        var dot = metric.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var phase = metric[..dot];
            var stat = metric[(dot + 1)..];
            if (!LoadPhases.All.Contains(phase, StringComparer.Ordinal))
            {
                throw new FormatException($"threshold '{text}': unknown phase '{phase}'; use one of {string.Join(", ", LoadPhases.All)}.");
            }

            if (!Stats.Contains(stat, StringComparer.Ordinal))
            {
                throw new FormatException($"threshold '{text}': unknown statistic '{stat}'; use one of {string.Join(", ", Stats)}.");
            }

            var millis = unit switch
            {
                "us" => value / 1000,
                "ms" => value,
                "s" => value * 1000,
                "" => throw new FormatException($"threshold '{text}': the latency '{number}' has no unit; write it with us, ms or s (for example 50ms)."),
                _ => throw new FormatException($"threshold '{text}': '{unit}' is not a latency unit; use us, ms or s."),
            };
            return new LoadThreshold(text, phase, stat, op, millis, percent: false);
        }

        switch (metric)
        {
            case "errors" or "notStarted" or "behindSchedule" or "abandoned":
                if (unit is not ("" or "%"))
                {
                    throw new FormatException($"threshold '{text}': {metric} takes a count or a percentage (for example 5 or 0.1%), not '{unit}'.");
                }

                if (unit == "%" && value > 100)
                {
                    throw new FormatException($"threshold '{text}': a share is at most 100%; give a percentage from 0 to 100 (for example 0.1%).");
                }

                return new LoadThreshold(text, metric, null, op, value, unit == "%");
            case "rate":
                if (unit is not ("" or "/s"))
                {
                    throw new FormatException($"threshold '{text}': rate takes sessions per second (for example 100/s), not '{unit}'.");
                }

                return new LoadThreshold(text, metric, null, op, value, percent: false);
            default:
                throw new FormatException($"threshold '{text}': unknown metric '{metric}'; use <phase>.<stat> (for example session.p99), errors, notStarted, behindSchedule, abandoned or rate.");
        }
    }

    /// <summary>Checks the threshold against <paramref name="result"/>.</summary>
    /// <param name="result">The result.</param>
    public LoadThresholdResult Evaluate(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        double? actual;
        string unit;
        if (Stat is { } stat)
        {
            unit = "ms";
            actual = result.Latency.TryGetValue(Metric, out var histogram) && histogram.TotalCount > 0
                ? stat switch
                {
                    "max" => LatencyHistograms.MaxMillis(histogram),
                    "mean" => HdrHistogram.HistogramExtensions.GetMean(histogram) / 1000.0,
                    "p999" => LatencyHistograms.Millis(histogram, 99.9),
                    _ => LatencyHistograms.Millis(histogram, double.Parse(stat[1..], CultureInfo.InvariantCulture)),
                }
                : null;
        }
        else if (Metric == "rate")
        {
            unit = "/s";
            actual = result.Seconds > 0 ? result.Sessions.Finished / result.Seconds : 0;
        }
        else
        {
            var s = result.Sessions;
            var (count, whole) = Metric switch
            {
                "errors" => (s.FailedTotal, s.Finished + s.Cancelled + s.FailedTotal),
                "notStarted" => (s.NotStarted, s.DueStarts),
                "behindSchedule" => (s.BehindSchedule, s.DueStarts),
                _ => (s.Abandoned, s.DueStarts),
            };
            unit = Percent ? "%" : "";
            actual = Percent ? (whole == 0 ? 0 : 100.0 * count / whole) : count;
        }

        var passed = actual is { } a && Operator switch
        {
            "<" => a < Value,
            "<=" => a <= Value,
            ">" => a > Value,
            _ => a >= Value,
        };
        var actualText = actual is { } v ? v.ToString("0.###", CultureInfo.InvariantCulture) + unit : "no samples";
        return new LoadThresholdResult(Expression, passed, actual, actualText);
    }

    [GeneratedRegex(@"^(?<metric>[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)?)\s*(?<op><=|>=|<|>)\s*(?<number>[0-9]+(\.[0-9]+)?)\s*(?<unit>%|/?[A-Za-zµ]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}

/// <summary>A threshold checked against a result.</summary>
/// <param name="Expression">The expression.</param>
/// <param name="Passed">Whether it held.</param>
/// <param name="Actual">The measured value (ms for latencies, a count, a percentage or sessions per second), or <see langword="null"/> when there was no sample.</param>
/// <param name="ActualText">The measured value with its unit, or <c>no samples</c>.</param>
public sealed record LoadThresholdResult(string Expression, bool Passed, double? Actual, string ActualText);
