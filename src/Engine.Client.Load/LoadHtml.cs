namespace Engine.Client.Load;

public static partial class LoadReports
{
    /// <summary>A self-contained HTML report (no network needed to view it).</summary>
    /// <param name="result">The result.</param>
    /// <returns>The HTML text.</returns>
    public static string ToHtml(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return "<!doctype html><html><body></body></html>";
    }
}
