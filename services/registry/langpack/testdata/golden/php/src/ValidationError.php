runtime copy of runtime/php/ValidationError.php (27 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
