// A minimal engine: Engine.Client.PoolHost <spec-file> <socket-directory>
// Creates a WorkerPool, starts one worker, prints its address on stdout, keeps it until stdin
// closes (a test kills this process with SIGKILL instead), then disposes the pool.
using Engine.Client;

await using var pool = WorkerPool.Create(WorkerSpecification.Load(args[0]), new WorkerPoolOptions
{
    Process = new WorkerProcessOptions { SocketDirectory = args[1] },
});
var worker = (await pool.StartWorkersAsync(1)).Single();
Console.WriteLine(worker.Address);
Console.Out.Flush();
await Console.In.ReadToEndAsync();
