runtime copy of runtime/php/SendError.php (17 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
