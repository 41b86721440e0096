runtime copy of runtime/php/Result.php (30 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
