runtime copy of runtime/php/autoload.php (20 lines); the lines generation adds or changes:
8: namespace Clickstream\Events\Web;
